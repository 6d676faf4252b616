/**
 * Preloaded (`--import`) into a daemon under test: once the agent's server listens, plants
 * the fault named by QUICKCMD_TEST_PLANT ('rejection' or 'exception') outside any handler,
 * as a bug in some callback would.
 */
import net from 'node:net';

const kind = process.env['QUICKCMD_TEST_PLANT'];
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
  this.once('listening', () => {
    setTimeout(() => {
      if (kind === 'rejection') void Promise.reject(new Error('planted rejection'));
      else if (kind === 'exception') throw new Error('planted exception');
    }, 200);
  });
  return (listen as (...a: unknown[]) => net.Server).apply(this, args);
} as typeof net.Server.prototype.listen;
