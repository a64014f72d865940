/**
 * One iSCSI session, target side (RFC 7143 §8.3, at ErrorRecoveryLevel 0 with one connection):
 *
 *   loggedIn ──LOGOUT──▶ loggingOut ──CLOSED──▶ free
 *      ├──CONNECTION_LOST──▶ failed ──CLOSED──▶ free   (its tasks are aborted; no recovery at ERL 0)
 *      └──REINSTATED──▶ reinstated ──CLOSED──▶ free     (a new login with the same ISID took over)
 *
 * `free` is final: the I_T nexus is gone and every logical unit has been told.
 */
import { setup } from 'xstate';

export type IscsiSessionEvent =
  | { readonly type: 'LOGOUT' }
  | { readonly type: 'CONNECTION_LOST' }
  | { readonly type: 'REINSTATED' }
  | { readonly type: 'CLOSED' };

export const iscsiSessionMachine = setup({
  types: { events: {} as IscsiSessionEvent },
}).createMachine({
  id: 'iscsiSession',
  initial: 'loggedIn',
  states: {
    loggedIn: {
      on: {
        LOGOUT: { target: 'loggingOut' },
        CONNECTION_LOST: { target: 'failed' },
        REINSTATED: { target: 'reinstated' },
        CLOSED: { target: 'free' },
      },
    },
    loggingOut: { on: { CLOSED: { target: 'free' } } },
    failed: { on: { CLOSED: { target: 'free' } } },
    reinstated: { on: { CLOSED: { target: 'free' } } },
    free: { type: 'final' },
  },
});
