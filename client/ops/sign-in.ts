import { type OpsClient, OpsApiError } from '../../protocol/ops-client.ts';
import { describe } from './card.ts';
import { required } from './dom.ts';
import { asRecord, str } from './json-fields.ts';

export interface Operator {
  actor: string;
  role: string;
}

export interface SignIn {
  /** Who is signed in; undefined while the sign-in form shows. */
  who(): Operator | undefined;
  /** Shows the sign-in form instead of the console, with why (signed out, the session ended). */
  ask(message?: string): void;
  /** Opens the console if the ops session cookie of an earlier visit still holds, else asks. */
  resume(): void;
}

function whoFrom(body: unknown): Operator {
  const record = asRecord(body);
  return { actor: str(record.actor) ?? '?', role: str(record.role) ?? 'viewer' };
}

/**
 * The token form, the signed-in operator's name and role, and sign-out. The token goes to
 * POST /ops/api/session once and is kept nowhere; the ops session cookie does the rest.
 * `opened` runs when the console shows for an operator, `closed` when the sign-in form
 * replaces it.
 */
export function createSignIn(deps: { api: OpsClient; opened(who: Operator): void; closed(): void }): SignIn {
  const { api } = deps;
  const alertBox = required<HTMLElement>('#ops-alert');
  const tokenForm = required<HTMLFormElement>('#token-form');
  const tokenInput = required<HTMLInputElement>('input[name="token"]', tokenForm);
  const signOutButton = required<HTMLButtonElement>('#sign-out');
  const whoBox = required<HTMLElement>('#ops-who');
  const main = required<HTMLElement>('#ops-main');

  let signedIn: Operator | undefined;

  function showAlert(text: string | undefined): void {
    alertBox.textContent = text ?? '';
    alertBox.hidden = !text;
  }

  function ask(message?: string): void {
    signedIn = undefined;
    deps.closed();
    main.hidden = true;
    signOutButton.hidden = true;
    whoBox.hidden = true;
    tokenForm.hidden = false;
    showAlert(message);
    tokenInput.focus();
  }

  function openConsole(who: Operator): void {
    signedIn = who;
    // Viewers read only: the write controls are hidden (ops.css); the server refuses them anyway.
    document.body.dataset.role = who.role;
    whoBox.textContent = `${who.actor} · ${who.role}`;
    whoBox.hidden = false;
    tokenForm.hidden = true;
    main.hidden = false;
    signOutButton.hidden = false;
    showAlert(undefined);
    deps.opened(who);
  }

  tokenForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = tokenInput.value.trim();
    if (!value) return;
    const button = required<HTMLButtonElement>('[type="submit"]', tokenForm);
    button.disabled = true;
    void api
      .send<unknown>('POST', '/session', { token: value })
      .then(
        (body) => {
          tokenInput.value = '';
          openConsole(whoFrom(body));
        },
        (error: unknown) => {
          if (error instanceof OpsApiError && error.status === 401) showAlert('That token was refused. Check it and try again.');
          else if (error instanceof OpsApiError && error.status === 429) {
            showAlert(`Too many refused tokens from this address; try again in ${error.retryAfterSeconds ?? 60} s.`);
          } else showAlert(describe(error));
          tokenInput.select();
        },
      )
      .finally(() => {
        button.disabled = false;
      });
  });

  signOutButton.addEventListener('click', () => {
    signOutButton.disabled = true;
    void api
      .send('DELETE', '/session')
      .then(
        () => ask('Signed out.'),
        (error: unknown) => showAlert(describe(error)),
      )
      .finally(() => {
        signOutButton.disabled = false;
      });
  });

  return {
    who: () => signedIn,
    ask,
    resume() {
      api.get<unknown>('/session').then(
        (body) => openConsole(whoFrom(body)),
        () => ask(),
      );
    },
  };
}
