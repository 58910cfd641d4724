//! Live pages: `/events` is a server-sent event stream fed by the fleet service's watch
//! stream (the one `printwatch watch` reads), cut down to the sites the user sees and to
//! one word of what changed; `/live.js` is the script that, on each event, fetches the
//! fleet page again and swaps in its board. Rendering stays on the server, in one place.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use printwatch_proto::v1 as p;
use printwatch_proto::v1::fleet_server::Fleet;
use tokio_stream::StreamExt;

use super::{unavailable, Signed, Web};

/// The site an event is about and one word for what changed.
pub fn about(e: &p::FleetEvent) -> Option<(&str, &'static str)> {
    use p::fleet_event::Body;
    Some(match e.body.as_ref()? {
        Body::DeviceUpdated(d) => (d.site.as_str(), "reading"),
        Body::Alert(a) => (a.site.as_str(), "alert"),
        Body::CollectorConnected(site) => (site.as_str(), "collector"),
        Body::CollectorDisconnected(site) => (site.as_str(), "collector"),
        Body::Replaced(r) => (r.site.as_str(), "replaced"),
        Body::SweepEnded(s) => (s.site.as_str(), "sweep"),
    })
}

/// `GET /events`: what changed in the user's sites, as it happens.
pub async fn events(State(web): State<Web>, s: Signed) -> Response {
    let watch = match web
        .fleet
        .watch(tonic::Request::new(p::WatchRequest {}))
        .await
    {
        Ok(w) => w.into_inner(),
        Err(e) => return unavailable("Live", &s, e.message()),
    };
    let stream = watch.filter_map(move |e| {
        let e = e.ok()?;
        let (site, what) = about(&e)?;
        s.sees(site)
            .then(|| Ok::<_, Infallible>(Event::default().event("fleet").data(what)))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// `GET /live.js`.
pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("assets/live.js"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use p::fleet_event::Body;

    #[test]
    fn every_event_names_its_site() {
        let at = |body| p::FleetEvent {
            at: String::new(),
            body: Some(body),
        };
        let device = p::Device {
            site: "north".into(),
            ..Default::default()
        };
        assert_eq!(
            about(&at(Body::DeviceUpdated(device))),
            Some(("north", "reading"))
        );
        let alert = p::FleetAlert {
            site: "south".into(),
            ..Default::default()
        };
        assert_eq!(about(&at(Body::Alert(alert))), Some(("south", "alert")));
        assert_eq!(
            about(&at(Body::CollectorDisconnected("east".into()))),
            Some(("east", "collector"))
        );
        assert_eq!(about(&p::FleetEvent::default()), None);
    }
}
