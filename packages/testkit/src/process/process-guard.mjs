// Leads the process group of one spawned service: runs the command given in argv, forwards its exit status, and
// kills the whole group when its stdin closes. The spawning test process holds the other end of that pipe, and the
// kernel closes it however that process ends (even SIGKILL), so a killed test run leaves no service behind.
// Plain JavaScript so it starts without a TypeScript loader.
import { spawn } from 'node:child_process';

const [command, ...args] = process.argv.slice(2);
if (!command) {
  process.stderr.write('process-guard: no command given\n');
  process.exit(64);
}

const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });

function killGroup(signal) {
  try {
    process.kill(-process.pid, signal);
  } catch {
    // The group is already gone.
  }
}

// Signals sent to the group reach the child directly; the guard only waits for it to finish.
const waitForChild = () => undefined;
process.on('SIGTERM', waitForChild);
process.on('SIGINT', waitForChild);
process.on('SIGHUP', waitForChild);

process.stdin.on('close', () => killGroup('SIGKILL'));
process.stdin.on('error', () => killGroup('SIGKILL'));
process.stdin.resume();

child.on('error', (err) => {
  process.stderr.write(`process-guard: cannot run ${command}: ${err.message}\n`);
  process.exit(127);
});

child.on('exit', (code, signal) => {
  if (signal) {
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
    return;
  }
  process.exit(code ?? 1);
});
