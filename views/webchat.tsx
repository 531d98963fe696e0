/**
 * `GET /webchat`: the web chat as a plain page (links, QR codes, acting as a customer in the
 * demo). The widget script draws the chat into `#chatdesk-webchat` in page mode; what the server
 * renders here is what a browser without JavaScript sees. Every text is escaped by JSX.
 */
import { raw } from "hono/html";
import type { WebchatSettings } from "../domain/channel_settings.ts";

/** A speech bubble in the web chat's colour, inline so the page costs no extra request. */
function favicon(color: string): string {
  return "data:image/svg+xml," + encodeURIComponent(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><path fill="${color}" d="M2 2h12a1 1 0 0 1 1 1v8a1 1 0 0 1-1 1H7l-4 3v-3H2a1 1 0 0 1-1-1V3a1 1 0 0 1 1-1z"/></svg>`,
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
