//! Metrics for printwatch's services, through OpenTelemetry: one meter provider per process
//! that every instrument records into, read two ways. A Prometheus scrape endpoint
//! (`GET /metrics`) serves the current values to whoever pulls, and an OTLP exporter pushes
//! them on a period to a collector, when one is configured. The services name their own
//! instruments (`collector::metrics`, `coordinator::metrics`); this crate only carries them.
//!
//! Logs are here too ([`logs`]): the other half of what a service tells its operator.

pub mod logs;

use std::net::SocketAddr;
use std::time::Duration;

use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use serde::{Deserialize, Serialize};

/// Where metrics go. Both ways are off by default: a service exports only when told.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// The Prometheus scrape endpoint's address (`GET /metrics`), e.g. `127.0.0.1:9464`.
    pub prometheus_listen: Option<SocketAddr>,
    /// An OTLP/gRPC collector to push to, e.g. `http://otel-collector:4317`.
    pub otlp_endpoint: Option<String>,
    /// How often to push to the OTLP endpoint, in seconds (60 when unset).
    pub otlp_interval_seconds: Option<u64>,
}

/// Why metrics could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The Prometheus exporter refused its registry.
    #[error("the Prometheus exporter: {0}")]
    Prometheus(String),
    /// The OTLP exporter could not be built (a bad endpoint, usually).
    #[error("the OTLP exporter for {endpoint}: {reason}")]
    Otlp {
        /// The endpoint as configured.
        endpoint: String,
        /// What the exporter said.
        reason: String,
    },
    /// The scrape endpoint's address could not be bound.
    #[error("the metrics endpoint {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
}

/// A process's metrics: the provider its instruments record into and the registry the scrape
/// endpoint renders. Dropping it stops the OTLP push (after a last export).
pub struct Telemetry {
    provider: SdkMeterProvider,
    registry: prometheus::Registry,
    service: &'static str,
}

impl Telemetry {
    /// Starts the readers `config` asks for. The Prometheus registry is always kept (it costs
    /// nothing until scraped), so tests and benchmarks can [`render`](Self::render) it.
    pub fn start(service: &'static str, config: &MetricsConfig) -> Result<Self, TelemetryError> {
        let registry = prometheus::Registry::new();
        let scrape = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .without_target_info()
            .build()
            .map_err(|e| TelemetryError::Prometheus(e.to_string()))?;
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name(service)
            .build();
        let mut builder = SdkMeterProvider::builder()
            .with_resource(resource)
            .with_reader(scrape);
        if let Some(endpoint) = &config.otlp_endpoint {
            use opentelemetry_otlp::WithExportConfig;
            let exporter = opentelemetry_otlp::MetricExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint.clone())
                .with_timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| TelemetryError::Otlp {
                    endpoint: endpoint.clone(),
                    reason: e.to_string(),
                })?;
            let every = Duration::from_secs(config.otlp_interval_seconds.unwrap_or(60).max(1));
            builder = builder.with_reader(
                PeriodicReader::builder(exporter)
                    .with_interval(every)
                    .build(),
            );
        }
        Ok(Telemetry {
            provider: builder.build(),
            registry,
            service,
        })
    }

    /// The meter a service makes its instruments from.
    pub fn meter(&self) -> Meter {
        self.provider.meter(self.service)
    }

    /// The current values in Prometheus's text format, as the scrape endpoint serves them.
    pub fn render(&self) -> String {
        render(&self.registry)
    }

    /// Pushes what has been recorded to the OTLP endpoint now, rather than at the next period.
    pub fn flush(&self) {
        let _ = self.provider.force_flush();
    }

    /// Binds the scrape endpoint, so a taken port is an error at start-up, not later.
    pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, TelemetryError> {
        tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| TelemetryError::Bind(addr, e))
    }

    /// Serves the scrape endpoint `config` asks for, if any, in a task of its own until
    /// `shutdown` completes; returns its address. The port is bound before this returns,
    /// so a taken port fails the start-up instead of becoming a line in the log later.
    pub async fn expose(
        self: &std::sync::Arc<Self>,
        config: &MetricsConfig,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<Option<SocketAddr>, TelemetryError> {
        let Some(addr) = config.prometheus_listen else {
            return Ok(None);
        };
        let listener = Self::bind(addr).await?;
        // The address bound: the port the system chose when the configuration gave 0.
        let bound = listener
            .local_addr()
            .map_err(|e| TelemetryError::Bind(addr, e))?;
        let telemetry = self.clone();
        tokio::spawn(async move {
            if let Err(e) = telemetry.serve(listener, shutdown).await {
                tracing::error!(
                    service = telemetry.service,
                    "the metrics endpoint failed: {e}"
                );
            }
        });
        Ok(Some(bound))
    }

    /// Serves `GET /metrics` on `listener` until `shutdown` completes.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let registry = self.registry.clone();
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let registry = registry.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        render(&registry),
                    )
                }
            }),
        );
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}

fn render(registry: &prometheus::Registry) -> String {
    use prometheus::Encoder;
    let mut out = Vec::new();
    // The text encoder fails only on a writer that fails; a Vec does not.
    let _ = prometheus::TextEncoder::new().encode(&registry.gather(), &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Fetches `GET /metrics` from a scrape endpoint and returns the body: how benchmarks and
/// tests read a service's figures without a Prometheus.
pub async fn scrape(addr: SocketAddr) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: metrics\r\nConnection: close\r\n\r\n")
        .await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    match out.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok(body.to_string()),
        _ => Err(std::io::Error::other(format!(
            "{addr}/metrics answered: {}",
            out.lines().next().unwrap_or("nothing")
        ))),
    }
}

/// One sample's value from Prometheus's text format: the first line whose metric name and
/// labels contain every `needle` (e.g. `["printwatch_polls_total{", "result=\"ok\""]`).
/// Benchmarks and tests read the services' endpoints with it.
pub fn sample(text: &str, needles: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            let series = l.rsplit_once(' ').map_or(*l, |(s, _)| s);
            needles.iter().all(|n| series.contains(n))
        })
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.trim().parse().ok())
}

/// The sum over every line whose series contains every `needle`: a counter over all its labels.
pub fn sum(text: &str, needles: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(series, _)| needles.iter().all(|n| series.contains(n)))
        .filter_map(|(_, v)| v.trim().parse::<f64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::KeyValue;

    #[tokio::test]
    async fn a_counter_and_a_gauge_reach_the_scrape_endpoint() {
        let t = Telemetry::start("printwatch-test", &MetricsConfig::default()).unwrap();
        let meter = t.meter();
        let polls = meter.u64_counter("printwatch_polls").build();
        polls.add(3, &[KeyValue::new("result", "ok")]);
        polls.add(1, &[KeyValue::new("result", "failed")]);
        let level = meter.f64_gauge("printwatch_supply_level_percent").build();
        level.record(42.0, &[KeyValue::new("device", "X1")]);

        let listener = Telemetry::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = async {
            t.serve(listener, async {
                let _ = stopped.await;
            })
            .await
            .unwrap()
        };
        let client = async {
            let body = scrape(addr).await.unwrap();
            let _ = stop.send(());
            body
        };
        let ((), body) = tokio::join!(server, client);
        assert_eq!(
            sample(&body, &["printwatch_polls_total{", "result=\"ok\""]),
            Some(3.0),
            "{body}"
        );
        assert_eq!(sum(&body, &["printwatch_polls_total{"]), 4.0);
        assert_eq!(
            sample(
                &body,
                &["printwatch_supply_level_percent{", "device=\"X1\""]
            ),
            Some(42.0)
        );
        assert_eq!(sample(&body, &["printwatch_nothing"]), None);
    }

    #[tokio::test]
    async fn a_taken_port_is_an_error_that_names_it() {
        let first = Telemetry::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = first.local_addr().unwrap();
        let err = Telemetry::bind(addr).await.unwrap_err();
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
    }

    /// A stand-in OTLP collector: a tonic server that keeps the names of the metrics pushed.
    struct Receiver(tokio::sync::mpsc::UnboundedSender<Vec<String>>);

    #[tonic::async_trait]
    impl opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::MetricsService
        for Receiver
    {
        async fn export(
            &self,
            req: tonic::Request<
                opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest,
            >,
        ) -> Result<
            tonic::Response<
                opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse,
            >,
            tonic::Status,
        > {
            let names = req
                .into_inner()
                .resource_metrics
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| &s.metrics)
                .map(|m| m.name.clone())
                .collect();
            let _ = self.0.send(names);
            Ok(tonic::Response::new(Default::default()))
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn otlp_pushes_to_the_configured_endpoint() {
        use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::MetricsServiceServer;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(MetricsServiceServer::new(Receiver(tx)))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        let config = MetricsConfig {
            otlp_endpoint: Some(format!("http://{addr}")),
            otlp_interval_seconds: Some(3600),
            ..MetricsConfig::default()
        };
        let t = std::sync::Arc::new(Telemetry::start("printwatch-test", &config).unwrap());
        t.meter()
            .u64_counter("printwatch_polls")
            .build()
            .add(1, &[KeyValue::new("result", "ok")]);
        // The push happens now, not in an hour: flush waits for the export.
        let t2 = t.clone();
        tokio::task::spawn_blocking(move || t2.flush())
            .await
            .unwrap();
        let names = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
            .await
            .expect("an OTLP export within 10 s")
            .unwrap();
        assert!(names.iter().any(|n| n == "printwatch_polls"), "{names:?}");
    }
}
