// Starting a `quarry serve` for the Node tests: a fresh data dir given by the caller, a free port,
// the demo tenant; resolves once the server says it listens (30 s at most).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export function startServer(binary, dataDir) {
  const child = spawn(binary, ['serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--demo',
                               '--set', 'log.level=warn', '--set', 'log.access=false',
                               '--set', 'quota.requests_per_second=0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the server did not start within 30 s')), 30_000);
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk.toString();
      const m = out.match(/Quarry is serving on (http:\/\/[^\s]+)/);
      if (m) {
        clearTimeout(timer);
        resolve({ child, base: m[1], key: fs.readFileSync(path.join(dataDir, 'secrets', 'demo.key'), 'utf8').trim() });
      }
    });
    child.on('exit', (code) => reject(new Error(`the server exited with ${code}: ${out}`)));
  });
}
