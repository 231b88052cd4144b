//! Coalescing for backends that send the reads of concurrent requests as one statement or one
//! pipeline (the PostgreSQL and Redis session reads).

use tokio::sync::mpsc;

/// Waits for at least one item (unless `batch` already holds some), then moves what else is
/// ready into `batch`, up to `max` in all. Returns the batch's length: 0 only when every sender
/// is gone and nothing is queued. Cancel-safe: items received before a cancellation stay in
/// `batch`, and the next call sends them without waiting for more.
///
/// Between the first item and the rest it yields once. Tokio runs a task woken by another one
/// next, so the batching task would otherwise wake on the first request's item and send it
/// alone, ahead of the other requests made ready by the same poll of the sockets; yielding
/// first lets them queue theirs, so a loaded instance sends one batch where it sent several
/// of one (`docs/decisions.md`, "Shared stores, batched"). An idle instance pays one pass of
/// the scheduler.
pub async fn next_batch<T>(rx: &mut mpsc::Receiver<T>, batch: &mut Vec<T>, max: usize) -> usize {
    if batch.is_empty() && rx.recv_many(batch, max).await == 0 {
        return 0;
    }
    tokio::task::yield_now().await;
    while batch.len() < max {
        match rx.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
    batch.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn gathers_what_is_queued_up_to_the_cap_and_ends_with_the_senders() {
        let (tx, mut rx) = mpsc::channel(16);
        for i in 0..5 {
            tx.send(i).await.unwrap();
        }
        let mut batch = Vec::new();
        assert_eq!(next_batch(&mut rx, &mut batch, 3).await, 3);
        assert_eq!(batch, vec![0, 1, 2]);
        batch.clear();
        assert_eq!(next_batch(&mut rx, &mut batch, 3).await, 2);
        assert_eq!(batch, vec![3, 4]);
        batch.clear();
        drop(tx);
        assert_eq!(next_batch(&mut rx, &mut batch, 3).await, 0);
    }

    #[tokio::test]
    async fn a_batch_left_by_a_cancelled_call_is_sent_without_waiting() {
        let (_tx, mut rx) = mpsc::channel::<u8>(4);
        let mut batch = vec![7];
        // Nothing more will come: waiting for another item would hang the test.
        assert_eq!(next_batch(&mut rx, &mut batch, 4).await, 1);
        assert_eq!(batch, vec![7]);
    }

    #[tokio::test]
    async fn items_sent_while_the_batch_forms_join_it() {
        let (tx, mut rx) = mpsc::channel(16);
        tx.send(0).await.unwrap();
        // Queued by another task that runs during the yield, as a concurrent request would.
        let late = tx.clone();
        tokio::spawn(async move { late.send(1).await.unwrap() });
        let mut batch = Vec::new();
        assert_eq!(next_batch(&mut rx, &mut batch, 8).await, 2);
        assert_eq!(batch, vec![0, 1]);
    }
}
