// Whose a golden image is: the platform's, shared with every tenant or kept
// to itself, or one tenant's own. The Owner choice of the image dialogs, the
// Owner column, and which images a tenant's pools may use (as the server
// decides it: a tenant's own images and the platform's shared ones).
import type { Image, Tenant } from '../api';
import { nameOf, options } from './app';

// What the dialogs start with: a first image is usually meant for everyone.
export const OWNER_DEFAULT = 'shared';

// The Owner select's choices; a tenant's choice is its id.
export function ownerChoices(list: Tenant[]): Array<[string, string]> {
  return [[OWNER_DEFAULT, 'Every tenant (shared)'], ['platform', 'Platform only'], ...options(list, (t) => t.name)];
}

// The request's fields for a choice of ownerChoices().
export function ownerFields(choice: string): { shared?: boolean; tenant_id?: string } {
  if (choice === OWNER_DEFAULT) return { shared: true };
  return choice === 'platform' ? {} : { tenant_id: choice };
}

export function ownerText(image: Image): string {
  if (image.tenant_id) return nameOf('tenants', image.tenant_id);
  return image.shared ? 'Shared' : 'Platform only';
}

export function imageServes(image: Image, tenant: string | null | undefined): boolean {
  return image.tenant_id ? image.tenant_id === tenant : image.shared;
}
