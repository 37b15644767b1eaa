import type { ComponentChildren } from 'preact';

/** A message the page must not let pass unseen (role="alert": screen readers announce it); nothing when empty. */
export function Alert({ tone = 'error', children }: { tone?: 'error' | 'warning'; children: ComponentChildren }) {
  if (children === null || children === undefined || children === false || children === '') return null;
  return (
    <p role="alert" class={tone}>
      {children}
    </p>
  );
}
