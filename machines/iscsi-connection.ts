/**
 * One iSCSI connection, target side: the connection states of RFC 7143 §8.1.3 that a target
 * with ErrorRecoveryLevel 0 goes through.
 *
 *   inLogin ──LOGGED_IN──▶ fullFeature ──LOGOUT_REQUESTED──▶ inLogout ──CLOSED──▶ free
 *      │                        │                                  ▲
 *      ├──LOGIN_FAILED──▶ loginFailed ──CLOSED──▶ free             │
 *      └──────────── CLOSED / DROPPED (any live state) ───────────┴──▶ free
 *
 * `free` is final. The connection class (src/iscsi/target/iscsi-connection.ts) sends the events
 * and the transitions go to the event log (src/core/machine-log.ts).
 */
import { setup } from 'xstate';

export type IscsiConnectionEvent =
  | { readonly type: 'LOGGED_IN' }
  | { readonly type: 'LOGIN_FAILED' }
  | { readonly type: 'LOGOUT_REQUESTED' }
  | { readonly type: 'DROPPED' }
  | { readonly type: 'CLOSED' };

export const iscsiConnectionMachine = setup({
  types: { events: {} as IscsiConnectionEvent },
}).createMachine({
  id: 'iscsiConnection',
  initial: 'inLogin',
  states: {
    inLogin: {
      on: {
        LOGGED_IN: { target: 'fullFeature' },
        LOGIN_FAILED: { target: 'loginFailed' },
        DROPPED: { target: 'free' },
        CLOSED: { target: 'free' },
      },
    },
    loginFailed: { on: { CLOSED: { target: 'free' }, DROPPED: { target: 'free' } } },
    fullFeature: {
      on: {
        LOGOUT_REQUESTED: { target: 'inLogout' },
        DROPPED: { target: 'free' },
        CLOSED: { target: 'free' },
      },
    },
    inLogout: { on: { CLOSED: { target: 'free' }, DROPPED: { target: 'free' } } },
    free: { type: 'final' },
  },
});
