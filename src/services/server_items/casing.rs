//! K2's REST routes in any casing. K2 serves them from ASP.NET, whose routing ignores the
//! case of literal segments, so K2 callers in the field send `/api/workflow/v1/serverevents/…`
//! or `/API/Workflow/V1/ServerEvents/…` as readily as the documented casing. Actix matches
//! literals exactly; [`k2_route_casing`] runs before routing and rewrites the literal
//! segments of a K2 route to the casing they are mounted with. The serial number is data,
//! not route: it keeps its casing (serials are case-sensitive).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::uri::{PathAndQuery, Uri};
use actix_web::middleware::Next;

/// The literal segments before the serial number, as mounted by `configure_rest`.
pub const K2_PREFIX: [&str; 4] = ["api", "workflow", "v1", "serverEvents"];
/// The literal segment after the serial number of the finish route.
pub const K2_FINISH: &str = "finish";

/// `path` with the literal segments of a K2 route in their mounted casing, when `path` is
/// a K2 route written in another casing; `None` for every other path, the mounted casing
/// included, so that the common case allocates nothing.
pub fn k2_canonical_path(path: &str) -> Option<String> {
    let mut segments = path.strip_prefix('/')?.split('/');
    let mut recased = false;
    for mounted in K2_PREFIX {
        let segment = segments.next()?;
        if !segment.eq_ignore_ascii_case(mounted) {
            return None;
        }
        recased |= segment != mounted;
    }
    let serial = segments.next().filter(|serial| !serial.is_empty())?;
    let finish = match segments.next() {
        None => false,
        Some(segment) if segment.eq_ignore_ascii_case(K2_FINISH) => {
            recased |= segment != K2_FINISH;
            true
        }
        Some(_) => return None,
    };
    if !recased || segments.next().is_some() {
        return None;
    }
    let mut canonical = String::with_capacity(path.len());
    for segment in K2_PREFIX.iter().chain([&serial]) {
        canonical.push('/');
        canonical.push_str(segment);
    }
    if finish {
        canonical.push('/');
        canonical.push_str(K2_FINISH);
    }
    Some(canonical)
}

/// Middleware mounted on the app, outside routing: a K2 route in another casing reaches
/// the same handler as the mounted casing.
pub async fn k2_route_casing(
    mut request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(canonical) = k2_canonical_path(request.path())
        && let Some(uri) = with_path(request.uri(), &canonical)
    {
        request.match_info_mut().get_mut().update(&uri);
        request.head_mut().uri = uri;
    }
    next.call(request).await
}

/// `uri` with its path replaced and its query kept; `None` if the result does not parse,
/// which a path that only changed the case of ASCII letters always does.
fn with_path(uri: &Uri, path: &str) -> Option<Uri> {
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_string(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(path_and_query).ok()?);
    Uri::from_parts(parts).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_casing_of_the_literals_becomes_the_mounted_one() {
        assert_eq!(
            k2_canonical_path("/api/workflow/v1/serverevents/12_34/finish").as_deref(),
            Some("/api/workflow/v1/serverEvents/12_34/finish")
        );
        assert_eq!(
            k2_canonical_path("/API/Workflow/V1/SERVEREVENTS/12_34").as_deref(),
            Some("/api/workflow/v1/serverEvents/12_34")
        );
        assert_eq!(
            k2_canonical_path("/api/workflow/v1/serverEvents/12_34/Finish").as_deref(),
            Some("/api/workflow/v1/serverEvents/12_34/finish")
        );
    }

    #[test]
    fn serials_keep_their_casing() {
        assert_eq!(
            k2_canonical_path("/api/workflow/v1/ServerEvents/AbC_dEf").as_deref(),
            Some("/api/workflow/v1/serverEvents/AbC_dEf")
        );
    }

    #[test]
    fn the_mounted_casing_and_other_paths_are_left_alone() {
        for path in [
            "/api/workflow/v1/serverEvents/12_34",
            "/api/workflow/v1/serverEvents/12_34/finish",
            "/api/v1/instances",
            "/vmware-vmo-webcontrol/webservice",
            "/api/workflow/v1/serverevents",
            "/api/workflow/v1/serverevents/",
            "/api/workflow/v1/serverevents/12_34/",
            "/api/workflow/v1/serverevents/12_34/fail",
            "/api/workflow/v1/serverevents/12_34/finish/more",
            "/api/workflow/v2/serverevents/12_34",
            "",
            "/",
        ] {
            assert_eq!(k2_canonical_path(path), None, "{path}");
        }
    }

    #[test]
    fn the_query_survives_the_rewrite() {
        let uri: Uri = "/API/workflow/v1/serverevents/1_2?x=1".parse().unwrap();
        let canonical = k2_canonical_path(uri.path()).unwrap();
        let rewritten = with_path(&uri, &canonical).unwrap();
        assert_eq!(
            rewritten.to_string(),
            "/api/workflow/v1/serverEvents/1_2?x=1"
        );
    }
}
