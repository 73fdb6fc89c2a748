/**
 * Ends a vitest run with one plain line, `tests: N passed, N failed[, N skipped]`, that
 * tools reading a run's last lines understand without knowing vitest's own summary.
 */
import type { RunnerTask, RunnerTestFile } from 'vitest';
import type { Reporter } from 'vitest/reporters';

export default class SummaryReporter implements Reporter {
  onFinished(files: RunnerTestFile[] = [], errors: unknown[] = []): void {
    const counts = { passed: 0, failed: 0, skipped: 0 };
    const visit = (task: RunnerTask): void => {
      if (task.type === 'suite') {
        // A file that failed to load, or a suite whose hook failed (its tests are then skipped).
        if ((task.result?.errors?.length ?? 0) > 0) counts.failed++;
        return task.tasks.forEach(visit);
      }
      if (task.mode === 'skip' || task.mode === 'todo') counts.skipped++;
      else if (task.result?.state === 'pass') counts.passed++;
      else counts.failed++;
    };
    files.forEach(visit);
    // An error outside any test fails the run as well.
    counts.failed += errors.length;
    const skipped = counts.skipped > 0 ? `, ${counts.skipped} skipped` : '';
    console.log(`\ntests: ${counts.passed} passed, ${counts.failed} failed${skipped}`);
  }
}
