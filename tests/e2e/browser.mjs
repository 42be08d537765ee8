// Starts the headless Chromium the end-to-end tests drive. It trusts the
// test orield's own CA by its public key (--ignore-certificate-errors-spki-list,
// never a blanket --ignore-certificate-errors), so a certificate from any
// other CA still fails as it would for a user.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

// The base64 SHA-256 of a PEM certificate's SubjectPublicKeyInfo, as Chromium wants it.
function spkiHash(pemFile) {
  const cert = new crypto.X509Certificate(fs.readFileSync(pemFile));
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return crypto.createHash('sha256').update(spki).digest('base64');
}

// args.web: the web client's directory (for playwright-core); args.ca: the CA file, if orield serves HTTPS.
export async function launchBrowser(args) {
  const require = createRequire(path.join(args.web, 'package.json'));
  const { chromium } = require('playwright-core');
  const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];
  if (args.ca) flags.push(`--ignore-certificate-errors-spki-list=${spkiHash(args.ca)}`);
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: flags });
}
