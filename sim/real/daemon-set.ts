/**
 * The daemons of one harness run: started by name with their ready line awaited, watched for an
 * exit nobody asked for (a crash, the store's invariant exit 70: reported through onUnexpectedExit
 * with the daemon's last lines), and all stopped gracefully at the end.
 */
import { join } from 'node:path';
import { CollieDaemon, describeExit } from './real-processes.js';

const READY_TIMEOUT_MS = 30_000;

export class DaemonSet {
  readonly #running = new Set<CollieDaemon>();
  #incarnation = 0;

  constructor(
    readonly logDir: string,
    readonly onUnexpectedExit: (message: string) => void,
  ) {}

  /** Starts `collie ARGS`, logging to LOGDIR/ROLE.log, and waits for its ready line. */
  async start(role: string, args: readonly string[], ready: RegExp): Promise<CollieDaemon> {
    const daemon = new CollieDaemon(`${role}#${++this.#incarnation}`, args, join(this.logDir, `${role}.log`));
    this.#running.add(daemon);
    void daemon.exited.then((status) => {
      this.#running.delete(daemon);
      // An exit before the ready line is a start failure: start() rejects with it.
      if (daemon.killedBy === undefined && daemon.ready) {
        this.onUnexpectedExit(
          `${daemon.name} exited on its own (${describeExit(status)}):\n${daemon.tail()}`,
        );
      }
    });
    await daemon.waitForLine(ready, READY_TIMEOUT_MS);
    daemon.ready = true;
    return daemon;
  }

  /** SIGTERM to every daemon still running (SIGKILL after the grace); resolves when all exited. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.#running].map((daemon) => daemon.stop()));
  }
}
