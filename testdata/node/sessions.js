// Sends real release-health traffic with @sentry/node to the DSN in
// SENTRY_DSN: three request sessions of an HTTP server (sent as a
// "sessions" aggregate) and two explicit sessions, one of which crashes.
// Used by health_node_test.go; NODE_PATH must reach @sentry/node.
const Sentry = require("@sentry/node");
const http = require("http");

Sentry.init({
  dsn: process.env.SENTRY_DSN,
  release: "node-app@1.0.0",
  environment: "test",
});

async function main() {
  // Explicit sessions (a CLI or worker process): one clean, one crashed.
  for (const [user, crash] of [["alice", false], ["bob", true]]) {
    Sentry.setUser({ id: user });
    Sentry.startSession();
    if (crash) {
      Sentry.captureException(new Error("worker crashed"), { mechanism: { handled: false } });
      // The SDK marks the session crashed while it processes the event,
      // which is asynchronous: let it finish first.
      await Sentry.flush(5000);
    }
    Sentry.endSession();
  }
  Sentry.setUser(null);

  // Request sessions of an HTTP server.
  const server = http.createServer((req, res) => res.end("ok"));
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const port = server.address().port;
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve, reject) => {
      http.get(`http://127.0.0.1:${port}/hello`, (res) => { res.resume(); res.on("end", resolve); }).on("error", reject);
    });
  }
  server.close();
  await Sentry.close(5000);
}

main().catch((e) => { console.error(e); process.exit(1); });
