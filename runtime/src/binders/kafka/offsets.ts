/**
 * In-order offset commits for one partition. Records are settled in any order (a retried
 * record finishes after the ones behind it), but Kafka remembers a single position per
 * partition: committing offset n says "everything before n is done". So the position only
 * moves past a record once it and every record before it are settled; after a crash, what
 * was not settled is delivered again, never skipped.
 */
export class PartitionProgress {
  /** Accepted offsets in ascending order; those before `head` are settled and gone. */
  private readonly accepted: number[] = [];
  private head = 0;
  private readonly settled = new Set<number>();
  /** The next offset this partition expects; earlier ones are duplicates of a refetch. */
  private next: number | undefined;
  /** The position last committed to Kafka. */
  committed: number | undefined;

  /**
   * Takes a fetched record. False for a record already taken: after a rebalance that kept
   * the partition, Kafka fetches again from the committed position.
   */
  accept(offset: number): boolean {
    if (this.next !== undefined && offset < this.next) return false;
    this.accepted.push(offset);
    this.next = offset + 1;
    return true;
  }

  settle(offset: number): void {
    this.settled.add(offset);
    while (this.head < this.accepted.length && this.settled.has(this.accepted[this.head]!)) {
      this.settled.delete(this.accepted[this.head]!);
      this.head++;
    }
    // Drop the settled prefix now and then rather than shifting on every settle.
    if (this.head > 1024 && this.head * 2 > this.accepted.length) {
      this.accepted.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Where a commit would put the partition's position now; undefined before any record. */
  position(): number | undefined {
    return this.head < this.accepted.length ? this.accepted[this.head] : this.next;
  }

  /** The position to commit, if it moved since the last commit. */
  pendingCommit(): number | undefined {
    const position = this.position();
    return position !== undefined && (this.committed === undefined || position > this.committed) ? position : undefined;
  }

  /** Records not settled yet. */
  unsettled(): number {
    return this.accepted.length - this.head - this.settled.size;
  }

  /** Records after the position: Kafka's lag of this consumer once the high watermark is known. */
  lag(highWatermark: number): number {
    const position = this.position() ?? this.committed;
    return position === undefined ? 0 : Math.max(0, highWatermark - position);
  }
}
