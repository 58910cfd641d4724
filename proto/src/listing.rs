//! Listings in parts: the fleet service streams a long answer as messages of about a MiB
//! each ([`parts`]), so that 20,000 printers fit under a client's 4 MiB message limit; a
//! client joins them back ([`join`]).

use tokio_stream::StreamExt;

/// The size a part grows to before the next one starts.
pub const PART_BYTES: usize = 1 << 20;

/// `items` cut into runs of about [`PART_BYTES`] encoded (an item larger than that is a
/// part of its own). Always at least one part, so an empty answer is one empty message.
pub fn parts<T: prost::Message>(items: Vec<T>) -> Vec<Vec<T>> {
    let mut out = vec![Vec::new()];
    let mut size = 0;
    for item in items {
        let len = item.encoded_len();
        if size + len > PART_BYTES && out.last().is_some_and(|p| !p.is_empty()) {
            out.push(Vec::new());
            size = 0;
        }
        size += len;
        if let Some(part) = out.last_mut() {
            part.push(item);
        }
    }
    out
}

/// Every part of a streamed listing, joined: `items` takes each message's list.
pub async fn join<M, T>(
    mut stream: tonic::Streaming<M>,
    items: impl Fn(M) -> Vec<T>,
) -> Result<Vec<T>, tonic::Status> {
    let mut all = Vec::new();
    while let Some(part) = stream.next().await {
        all.extend(items(part?));
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_stay_under_the_size_and_keep_the_order() {
        let items: Vec<crate::v1::Device> = (0..5_000)
            .map(|i| crate::v1::Device {
                id: format!("sn:{i:05}"),
                addresses: vec!["x".repeat(600)],
                ..Default::default()
            })
            .collect();
        let all = parts(items.clone());
        assert!(all.len() > 2);
        for p in &all {
            let bytes: usize = p.iter().map(prost::Message::encoded_len).sum();
            assert!(bytes <= PART_BYTES, "{bytes}");
        }
        assert_eq!(all.concat(), items);
        assert_eq!(parts(Vec::<crate::v1::Device>::new()).len(), 1);
    }
}

/// A streamed listing joined into one list: `client.list_devices(..).await?.into_inner()
/// .joined().await?`.
pub trait Joined {
    /// What the listing lists.
    type Item;
    /// Every part, joined.
    fn joined(
        self,
    ) -> impl std::future::Future<Output = Result<Vec<Self::Item>, tonic::Status>> + Send;
}

macro_rules! joined {
    ($($msg:ident . $field:ident : $item:ident),* $(,)?) => {$(
        impl Joined for tonic::Streaming<crate::v1::$msg> {
            type Item = crate::v1::$item;
            fn joined(
                self,
            ) -> impl std::future::Future<Output = Result<Vec<Self::Item>, tonic::Status>> + Send
            {
                join(self, |m: crate::v1::$msg| m.$field)
            }
        }
    )*};
}

joined!(
    ListDevicesResponse.devices: Device,
    ListSuppliesResponse.supplies: SupplyRow,
    ListAlertsResponse.alerts: FleetAlert,
    HistoryResponse.readings: Reading,
    ExportResponse.rows: ExportRow,
);
