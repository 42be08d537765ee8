// Builds the web client with esbuild: src/portal.ts, src/desktop.ts and the
// console (src/console/main.ts) into $ORIEL_WEB_OUT/assets (default
// ../build/web), the pages beside them.
//   node build.mjs          build (CMake runs this as `npm run build`)
//   node build.mjs --test   bundle test/*.test.ts and run them with node's test runner
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

async function build(out) {
  mkdirSync(path.join(out, 'assets'), { recursive: true });
  await esbuild.build({
    entryPoints: {
      portal: path.join(here, 'src/portal.ts'),
      desktop: path.join(here, 'src/desktop.ts'),
      console: path.join(here, 'src/console/main.ts'),
    },
    outdir: path.join(out, 'assets'),
    bundle: true,
    format: 'esm',
    target: ['chrome110', 'firefox115', 'safari16'],
    minify: true,
    sourcemap: true,
    logLevel: 'warning',
  });
  copyFileSync(path.join(here, 'src/style.css'), path.join(out, 'assets/style.css'));
  for (const page of ['index.html', 'desktop.html', 'console.html']) copyFileSync(path.join(here, page), path.join(out, page));
  console.log(`web: built into ${out}`);
}

async function test() {
  const out = mkdtempSync(path.join(tmpdir(), 'oriel-web-test-'));
  try {
    const tests = readdirSync(path.join(here, 'test')).filter((f) => f.endsWith('.test.ts'));
    await esbuild.build({
      entryPoints: tests.map((f) => path.join(here, 'test', f)),
      outdir: out,
      bundle: true,
      platform: 'node',
      format: 'esm',
      outExtension: { '.js': '.mjs' },
      logLevel: 'warning',
    });
    const files = readdirSync(out).filter((f) => f.endsWith('.mjs')).map((f) => path.join(out, f));
    const run = spawnSync(process.execPath, ['--test', ...files], { stdio: 'inherit' });
    process.exitCode = run.status ?? 1;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

if (process.argv.includes('--test')) await test();
else await build(process.env.ORIEL_WEB_OUT || path.join(here, '../build/web'));
