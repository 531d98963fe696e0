/** The sign-in page. */
import { Document } from "./layout.tsx";

export function LoginPage(
  props: { next: string; email?: string; error?: string | null; notice?: string | null },
) {
  return (
    <Document title="Sign in">
      <main class="login">
        <div class="brand">
          chat<span>desk</span>
        </div>
        <div class="card">
          <div class="card-body stack">
            <h1>Sign in</h1>
            {props.notice ? <div class="flash flash-ok" role="status">{props.notice}</div> : null}
            {props.error ? <div class="flash flash-error" role="alert">{props.error}</div> : null}
            <form method="post" action="/login" class="stack">
              <input type="hidden" name="next" value={props.next} />
              <div class="field">
                <label for="email">E-mail</label>
                <input
                  id="email"
                  name="email"
                  type="email"
                  autocomplete="username"
                  required
                  autofocus
                  value={props.email ?? ""}
                />
              </div>
              <div class="field">
                <label for="password">Password</label>
                <input
                  id="password"
                  name="password"
                  type="password"
                  autocomplete="current-password"
                  required
                />
              </div>
              <div class="form-actions">
                <button type="submit" class="btn btn-primary">Sign in</button>
              </div>
            </form>
          </div>
        </div>
        <p class="muted small">
          Too many failed attempts lock sign-in for a while, per account and per address.
        </p>
      </main>
    </Document>
  );
}
