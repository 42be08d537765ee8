// The sign-in form the portal and the console share (#login-form with
// #username, #password, the #login button and #login-error): signs in, then
// runs `then`; a failure is shown in the form, described by `describe`.
import { login } from './api';

function byId<T extends HTMLElement>(id: string): T {
  return document.getElementById(id) as T;
}

async function submit(ev: Event, then: () => Promise<void>, describe: (e: unknown) => string): Promise<void> {
  ev.preventDefault();
  const button = byId<HTMLButtonElement>('login');
  button.disabled = true;
  byId('login-error').textContent = '';
  try {
    await login(byId<HTMLInputElement>('username').value, byId<HTMLInputElement>('password').value);
    byId<HTMLInputElement>('password').value = '';
    await then();
  } catch (e) {
    byId('login-error').textContent = describe(e);
  } finally {
    button.disabled = false;
  }
}

export function handleSignIn(then: () => Promise<void>, describe: (e: unknown) => string): void {
  byId<HTMLFormElement>('login-form').addEventListener('submit', (ev) => void submit(ev, then, describe));
}
