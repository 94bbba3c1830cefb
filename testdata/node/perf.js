// Sends what TestNodeSpansFeedbackCheckIns checks: span-streaming spans
// (the default of @sentry/node 11), an error with user feedback on it, and
// a cron check-in. Usage: node perf.js <dsn>; prints the error's event id.
const Sentry = require("@sentry/node");

Sentry.init({ dsn: process.argv[2], release: "shop@3.0.0", environment: "test", tracesSampleRate: 1.0 });

async function main() {
  for (let i = 0; i < 5; i++) {
    await Sentry.startSpan({ name: "GET /api/cart", op: "http.server" }, async () => {
      await Sentry.startSpan({ name: "SELECT * FROM carts", op: "db.query" }, async () => {
        await new Promise((r) => setTimeout(r, 2));
      });
    });
  }
  const id = Sentry.captureException(new Error("cart exploded"));
  Sentry.captureFeedback({ message: "The cart page froze", name: "Jane", email: "jane@example.com", associatedEventId: id });
  Sentry.captureCheckIn(
    { monitorSlug: "cart-cleanup", status: "ok", duration: 1.5 },
    { schedule: { type: "crontab", value: "*/10 * * * *" }, checkinMargin: 2, maxRuntime: 5, timezone: "UTC" },
  );
  await Sentry.flush(10000);
  console.log(id);
}

main().catch((e) => { console.error(e); process.exit(1); });
