//! Taking what a stream has already received, without waiting: both ends of the collector
//! stream batch by it (the coordinator stores together what arrived together; the collector
//! settles every acknowledgement that arrived in one outbox delete).

use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tonic::codegen::tokio_stream::Stream;

/// The next item if one has arrived: `Some(Some(item))`; `Some(None)` when the stream has
/// ended; `None` when nothing is there yet. The caller awaits the stream itself before it
/// sleeps, so the wake-up this poll does not register is never missed.
pub fn arrived<S: Stream + Unpin>(stream: &mut S) -> Option<Option<S::Item>> {
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(stream).poll_next(&mut cx) {
        Poll::Ready(item) => Some(item),
        Poll::Pending => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn takes_only_what_is_there() {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let mut s = tonic::codegen::tokio_stream::wrappers::ReceiverStream::new(rx);
        assert_eq!(arrived(&mut s), None);
        tx.send(1).await.unwrap();
        tx.send(2).await.unwrap();
        assert_eq!(arrived(&mut s), Some(Some(1)));
        assert_eq!(arrived(&mut s), Some(Some(2)));
        assert_eq!(arrived(&mut s), None);
        drop(tx);
        assert_eq!(arrived(&mut s), Some(None));
    }
}
