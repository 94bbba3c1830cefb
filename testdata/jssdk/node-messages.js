// Sends captureMessage from real @sentry/node to the DSN in $DSN, the way an
// application would (jssdk_test.go). Module resolution: ./node_modules or
// $NODE_PATH.
const Sentry = require('@sentry/node');

Sentry.init({ dsn: process.env.DSN, release: 'jsmsg@1.0.0', environment: 'test' });

// Two different messages from one function: two issues.
function checkDisk() {
  Sentry.captureMessage('node: disk almost full');
  Sentry.captureMessage('node: disk check failed', 'warning');
}

// One message from two calls of one function: one issue.
function reportReady() {
  Sentry.captureMessage('node: cache warmed', 'info');
}

// The same message from another function: another issue.
function warmUp() {
  Sentry.captureMessage('node: cache warmed', 'info');
}

async function main() {
  checkDisk();
  reportReady();
  reportReady();
  warmUp();
  if (!(await Sentry.flush(10000))) {
    console.error('flush timed out');
    process.exit(1);
  }
  console.log('sent');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
