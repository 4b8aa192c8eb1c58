//! Validation of the SharePoint context token (`properties/ContextToken`), for
//! `[sharepoint] auth = "context_token"`: a JWT signed with HS256 under the add-in's client
//! secret (base64-decoded, as SharePoint's TokenHelper does), whose audience is
//! `{client_id}/{host}@{realm}` and which has not expired.
//!
//! The token is taken apart and its signature checked by `jsonwebtoken`, with the
//! algorithm pinned to HS256: `none`, and every other algorithm, is refused before any
//! key is used. Two checks stay here, on the claims that library has decoded: the time
//! (against the engine's clock, which the library cannot be given: it reads the system
//! clock, and tests and deadlines run on the engine's) and the audience (SharePoint
//! compares the principal without case and a configured realm may be absent, which the
//! library's exact-match audience check cannot express).

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::config::sharepoint::ContextTokenSettings;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
const SKEW_SECS: i64 = 300;

impl ContextTokenSettings {
    fn key(&self) -> Vec<u8> {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(self.client_secret.trim())
            .unwrap_or_else(|_| self.client_secret.as_bytes().to_vec())
    }
}

/// The claims a context token must carry for this receiver.
#[derive(Debug, Deserialize)]
struct Claims {
    aud: Option<String>,
    exp: Option<i64>,
    nbf: Option<i64>,
}

/// Checks a token for a request that reached `host`, at `now_secs`.
pub fn validate(
    token: &str,
    settings: &ContextTokenSettings,
    host: &str,
    now_secs: i64,
) -> Result<(), String> {
    let token = token.trim();
    let key = DecodingKey::from_secret(&settings.key())
        .map_err(|_| "the client secret is unusable".to_string())?;
    let mut validation = Validation::new(Algorithm::HS256);
    // Checked below: see the module documentation. `exp` stays required.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map_err(|error| refusal(token, error.kind()))?
        .claims;
    let exp = claims.exp.ok_or("the context token has no expiry")?;
    if exp + SKEW_SECS < now_secs {
        return Err("the context token has expired".into());
    }
    if claims.nbf.is_some_and(|nbf| nbf - SKEW_SECS > now_secs) {
        return Err("the context token is not valid yet".into());
    }
    let audience = claims.aud.ok_or("the context token has no audience")?;
    let (principal, realm) = audience
        .split_once('@')
        .ok_or("the audience has no realm")?;
    let expected_principal = format!("{}/{}", settings.client_id, host);
    if !principal.eq_ignore_ascii_case(&expected_principal)
        || settings
            .realm
            .as_deref()
            .is_some_and(|r| !r.eq_ignore_ascii_case(realm))
    {
        return Err(format!(
            "the context token is for `{audience}`, not for this receiver"
        ));
    }
    Ok(())
}

/// Why the library refused a token, in words for the fault.
fn refusal(token: &str, kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::InvalidSignature => {
            "the context token's signature does not match the client secret".into()
        }
        ErrorKind::InvalidAlgorithm => match jsonwebtoken::decode_header(token) {
            Ok(header) => format!(
                "the context token is signed with {:?}, not HS256",
                header.alg
            ),
            Err(_) => "the context token is not signed with HS256".into(),
        },
        ErrorKind::MissingRequiredClaim(claim) if claim == "exp" => {
            "the context token has no expiry".into()
        }
        ErrorKind::InvalidToken => "the context token is not a JWT".into(),
        ErrorKind::Base64(_) => "the context token is not base64url".into(),
        // A header that names `none` or an unknown algorithm does not parse either.
        ErrorKind::Json(_) | ErrorKind::Utf8(_) if jsonwebtoken::decode_header(token).is_err() => {
            "the context token's header is not a JWT header signed with HS256".into()
        }
        ErrorKind::Json(_) | ErrorKind::Utf8(_) | ErrorKind::InvalidClaimFormat(_) => {
            "the context token's claims are not valid".into()
        }
        other => {
            tracing::debug!(kind = ?other, "context token refused");
            "the context token is refused".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use hmac::{Hmac, Mac};
    use serde_json::{Value, json};
    use sha2::Sha256;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Signs claims the way SharePoint's token service does (for tests), under `header`.
    fn sign_with(header: &Value, claims: &Value, secret_b64: &str) -> String {
        let signed = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let key = base64::engine::general_purpose::STANDARD
            .decode(secret_b64)
            .unwrap();
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
        mac.update(signed.as_bytes());
        format!("{signed}.{}", b64(&mac.finalize().into_bytes()))
    }

    fn sign(claims: &Value, secret_b64: &str) -> String {
        sign_with(&json!({"typ": "JWT", "alg": "HS256"}), claims, secret_b64)
    }

    fn settings(secret: &str) -> ContextTokenSettings {
        ContextTokenSettings {
            client_id: "11111111-2222-3333-4444-555555555555".into(),
            client_secret: secret.into(),
            realm: Some("tenant-realm".into()),
        }
    }

    const AUD: &str = "11111111-2222-3333-4444-555555555555/rer.example.com@tenant-realm";

    #[test]
    fn tokens() {
        let secret = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
        let settings = settings(&secret);
        let good = sign(&json!({"aud": AUD, "exp": 2_000, "nbf": 1_000}), &secret);
        assert_eq!(validate(&good, &settings, "rer.example.com", 1_500), Ok(()));
        assert!(
            validate(&good, &settings, "other.example.com", 1_500)
                .unwrap_err()
                .contains("not for this receiver")
        );
        assert!(
            validate(&good, &settings, "rer.example.com", 3_000)
                .unwrap_err()
                .contains("expired")
        );
        let forged = sign(
            &json!({"aud": AUD, "exp": 2_000}),
            &base64::engine::general_purpose::STANDARD.encode([1u8; 32]),
        );
        assert!(
            validate(&forged, &settings, "rer.example.com", 1_500)
                .unwrap_err()
                .contains("signature")
        );
        let other_realm = sign(
            &json!({"aud": AUD.replace("tenant-realm", "x"), "exp": 2_000}),
            &secret,
        );
        assert!(validate(&other_realm, &settings, "rer.example.com", 1_500).is_err());
        assert!(validate("a.b", &settings, "h", 0).is_err());
    }

    #[test]
    fn times_have_five_minutes_of_leeway_and_exp_is_required() {
        let secret = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
        let settings = settings(&secret);
        let token = sign(&json!({"aud": AUD, "exp": 2_000, "nbf": 1_000}), &secret);
        let at = |now| validate(&token, &settings, "rer.example.com", now);
        assert_eq!(at(2_300), Ok(()), "exp + 300 s");
        assert!(at(2_301).unwrap_err().contains("expired"));
        assert_eq!(at(700), Ok(()), "nbf - 300 s");
        assert!(at(699).unwrap_err().contains("not valid yet"));
        let no_exp = sign(&json!({"aud": AUD}), &secret);
        assert_eq!(
            validate(&no_exp, &settings, "rer.example.com", 0),
            Err("the context token has no expiry".into())
        );
        let no_aud = sign(&json!({"exp": 2_000}), &secret);
        assert!(
            validate(&no_aud, &settings, "rer.example.com", 1_500)
                .unwrap_err()
                .contains("no audience")
        );
    }

    /// Only HS256: an unsigned token, another HMAC, or an asymmetric algorithm whose
    /// "public key" would be the client secret are all refused.
    #[test]
    fn the_algorithm_is_pinned_to_hs256() {
        let secret = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
        let settings = settings(&secret);
        let claims = json!({"aud": AUD, "exp": 2_000});
        let unsigned = format!(
            "{}.{}.",
            b64(br#"{"typ":"JWT","alg":"none"}"#),
            b64(claims.to_string().as_bytes())
        );
        assert!(
            validate(&unsigned, &settings, "rer.example.com", 1_500)
                .unwrap_err()
                .contains("HS256")
        );
        for alg in ["HS384", "HS512", "RS256", "ES256"] {
            let token = sign_with(&json!({"typ": "JWT", "alg": alg}), &claims, &secret);
            assert_eq!(
                validate(&token, &settings, "rer.example.com", 1_500),
                Err(format!("the context token is signed with {alg}, not HS256")),
                "{alg}"
            );
        }
        let garbage = format!("{}.e30.c2ln", b64(b"not json"));
        assert!(validate(&garbage, &settings, "rer.example.com", 1_500).is_err());
    }
}
