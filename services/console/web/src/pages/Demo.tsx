import type { DemoView, Scope } from '../../../src/view.js';

/** The dev cluster's demo panel. */
export function Demo({ demo, scope }: { demo: DemoView; scope: Scope }) {
  return (
    <main id="main">
      <h1>Demo</h1>
      <p>
        {demo.users.length} demo users on {demo.nodes.length} nodes ({scope}).
      </p>
    </main>
  );
}
