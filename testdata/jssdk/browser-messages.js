// Bundled with esbuild (minified) and loaded by Chromium from a page on
// another origin than tinysink's (jssdk_test.go): real @sentry/browser
// posting captureMessage cross-origin. window.DSN is set by the page.
import * as Sentry from '@sentry/browser';

Sentry.init({ dsn: window.DSN, release: 'jsmsg@1.0.0', environment: 'test' });

// Two different messages from one function: two issues.
function checkDisk() {
  Sentry.captureMessage('browser: disk almost full');
  Sentry.captureMessage('browser: disk check failed', 'warning');
}

// One message from two calls of one function: one issue.
function sayHello(n) {
  Sentry.captureMessage('browser says hello', 'warning');
  return n;
}

// The same message from another function: another issue.
function greet() {
  Sentry.captureMessage('browser says hello', 'warning');
}

window.runMessages = async function () {
  checkDisk();
  sayHello(1);
  sayHello(2);
  greet();
  return (await Sentry.flush(10000)) ? 'sent' : 'flush timed out';
};
