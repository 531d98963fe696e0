/**
 * `GET /webchat`: the web chat as a plain page (links, QR codes, acting as a customer in the
 * demo). The widget script draws the chat into `#chatdesk-webchat` in page mode; what the server
 * renders here is what a browser without JavaScript sees. `GET /webchat/preview`: the widget in
 * preview mode, for Admin › Integrations. Every text is escaped by JSX.
 */
import { raw } from "hono/html";
import type { WebchatSettings } from "../domain/channel_settings.ts";

/** A speech bubble in the web chat's colour, inline so the page costs no extra request. */
function favicon(color: string): string {
  return "data:image/svg+xml," + encodeURIComponent(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><path fill="${color}" d="M2 2h12a1 1 0 0 1 1 1v8a1 1 0 0 1-1 1H7l-4 3v-3H2a1 1 0 0 1-1-1V3a1 1 0 0 1 1-1z"/></svg>`,
  );
}

/** What the widget looks like: the part of the settings a preview changes. */
export type WebchatLook = Pick<WebchatSettings, "title" | "greeting" | "color">;

/**
 * The preview Admin › Integrations frames: the real widget (one source of look and CSS), drawn
 * open from the script tag's data attributes, never talking to the desk. Without JavaScript the
 * page still names the title, greeting and colour it was given.
 */
export function WebchatPreviewPage(
  { look, widgetUrl, styleUrl }: { look: WebchatLook; widgetUrl: string; styleUrl: string },
) {
  const color = /^#[0-9a-f]{6}$/i.test(look.color) ? look.color : "#1f6feb";
  return (
    <>
      {raw("<!DOCTYPE html>")}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <title>Web chat preview</title>
          <link rel="stylesheet" href={styleUrl} />
          <script
            src={widgetUrl}
            defer
            data-mode="preview"
            data-title={look.title}
            data-greeting={look.greeting}
            data-color={color}
          >
          </script>
        </head>
        <body>
          <main class="card-body stack" aria-labelledby="preview-title">
            <h1 id="preview-title" class="sr-only">Web chat preview</h1>
            <noscript>
              <div class="stack">
                <div class="card">
                  <div class="card-head">
                    <h2 class="inline">
                      <img src={favicon(color)} alt="" width="18" height="18" />
                      {look.title}
                    </h2>
                    <code>{color}</code>
                  </div>
                  <p class="card-body">
                    {look.greeting || <span class="muted">No greeting.</span>}
                  </p>
                </div>
                <p class="small muted">Turn on JavaScript to see the chat button and panel.</p>
              </div>
            </noscript>
          </main>
        </body>
      </html>
    </>
  );
}

export function WebchatPage(
  { settings, widgetUrl }: { settings: WebchatSettings; widgetUrl: string },
) {
  const color = /^#[0-9a-f]{6}$/i.test(settings.color) ? settings.color : "#1f6feb";
  return (
    <>
      {raw("<!DOCTYPE html>")}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <meta name="theme-color" content={color} />
          <title>{settings.title}</title>
          <link rel="icon" href={favicon(color)} />
          <script src={widgetUrl} defer data-mode="page"></script>
        </head>
        <body>
          <main id="chatdesk-webchat">
            <h1>{settings.title}</h1>
            {settings.greeting ? <p>{settings.greeting}</p> : null}
            {settings.enabled
              ? <noscript>This chat needs JavaScript turned on in your browser.</noscript>
              : <p>Chat is unavailable right now.</p>}
          </main>
        </body>
      </html>
    </>
  );
}
