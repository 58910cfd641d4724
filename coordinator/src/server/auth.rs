//! Who is calling: the client certificate, issued by the fleet CA (TLS refuses any other),
//! names a role and a name ([`printwatch_pki::identity_of`]). One interceptor per service
//! turns it into a [`Caller`] in the request's extensions and refuses a caller of another
//! role, so no RPC checks roles itself: the collector service takes collectors only, the
//! fleet service operators only.

use printwatch_pki::{identity_of, Role};
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// The caller of an RPC, from its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// What it may do.
    pub role: Role,
    /// Who it is: a collector's site, an operator's name.
    pub name: String,
}

/// The interceptor: only callers whose certificate names this role get through.
#[derive(Debug, Clone, Copy)]
pub struct RequireRole(pub Role);

impl Interceptor for RequireRole {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        let caller = from_certificate(&req)?;
        if caller.role != self.0 {
            return Err(Status::permission_denied(
                format!(
                    "a {:?} certificate ({}) may not do this",
                    caller.role, caller.name
                )
                .to_lowercase(),
            ));
        }
        req.extensions_mut().insert(caller);
        Ok(req)
    }
}

/// Who the client certificate of a request says is calling.
fn from_certificate<T>(req: &Request<T>) -> Result<Caller, Status> {
    let certs = req.peer_certs().ok_or_else(|| {
        Status::unauthenticated("a client certificate from the fleet CA is required")
    })?;
    let leaf = certs
        .first()
        .ok_or_else(|| Status::unauthenticated("no client certificate"))?;
    let (role, name) =
        identity_of(leaf.as_ref()).map_err(|e| Status::unauthenticated(e.to_string()))?;
    Ok(Caller { role, name })
}

/// The caller [`RequireRole`] let through. Every service is built behind it, so its
/// absence is a wiring mistake, answered as an internal error rather than a panic.
pub fn caller<T>(req: &Request<T>) -> Result<Caller, Status> {
    req.extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::internal("the request passed no authentication"))
}
