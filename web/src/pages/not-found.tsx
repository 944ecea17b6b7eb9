import type { JSX } from 'preact';
import { Link } from '../components/ui';

export function NotFoundPage(): JSX.Element {
  return (
    <section>
      <h1>Not found</h1>
      <p>
        There is no page here. <Link href="/">Back to the overview</Link>.
      </p>
    </section>
  );
}
