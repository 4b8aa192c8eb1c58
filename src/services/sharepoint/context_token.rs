//! Validation of the SharePoint context token (`properties/ContextToken`), for
//! `[sharepoint] auth = "context_token"`: a JWT signed with HS256 under the add-in's client
//! secret (base64-decoded, as SharePoint's TokenHelper does), whose audience is
//! `{client_id}/{host}@{realm}` and which has not expired.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
const SKEW_SECS: i64 = 300;

#[derive(Debug, Clone)]
pub struct ContextTokenSettings {
    pub client_id: String,
    /// The secret as configured (base64, as SharePoint issues it).
    pub client_secret: String,
    /// The tenant realm; any realm when absent.
    pub realm: Option<String>,
}

impl ContextTokenSettings {
    fn key(&self) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(self.client_secret.trim())
            .unwrap_or_else(|_| self.client_secret.as_bytes().to_vec())
    }
}

/// Checks a token for a request that reached `host`, at `now_secs`.
pub fn validate(
    token: &str,
    settings: &ContextTokenSettings,
    host: &str,
    now_secs: i64,
) -> Result<(), String> {
    let mut parts = token.trim().split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("the context token is not a JWT".into());
    };
    let decode = |part: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .map_err(|_| "the context token is not base64url".to_string())
    };
    let header: Value = serde_json::from_slice(&decode(header)?)
        .map_err(|_| "the token header is not JSON".to_string())?;
    if header["alg"] != "HS256" {
        return Err(format!(
            "the context token is signed with {}, not HS256",
            header["alg"]
        ));
    }
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&settings.key())
        .map_err(|_| "the client secret is unusable".to_string())?;
    mac.update(
        token
            .trim()
            .rsplit_once('.')
            .map_or("", |(signed, _)| signed)
            .as_bytes(),
    );
    let expected = mac.finalize().into_bytes();
    if !bool::from(expected.as_slice().ct_eq(&decode(signature)?)) {
        return Err("the context token's signature does not match the client secret".into());
    }
    let claims: Value = serde_json::from_slice(&decode(payload)?)
        .map_err(|_| "the token claims are not JSON".to_string())?;
    let exp = claims["exp"]
        .as_i64()
        .ok_or("the context token has no expiry")?;
    if exp + SKEW_SECS < now_secs {
        return Err("the context token has expired".into());
    }
    if claims["nbf"]
        .as_i64()
        .is_some_and(|nbf| nbf - SKEW_SECS > now_secs)
    {
        return Err("the context token is not valid yet".into());
    }
    let audience = claims["aud"]
        .as_str()
        .ok_or("the context token has no audience")?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Signs claims the way SharePoint's token service does (for tests).
    fn sign(claims: &Value, secret_b64: &str) -> String {
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let signed = format!(
            "{}.{}",
            b64(json!({"typ": "JWT", "alg": "HS256"}).to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let key = base64::engine::general_purpose::STANDARD
            .decode(secret_b64)
            .unwrap();
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
        mac.update(signed.as_bytes());
        format!("{signed}.{}", b64(&mac.finalize().into_bytes()))
    }

    #[test]
    fn tokens() {
        let secret = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
        let settings = ContextTokenSettings {
            client_id: "11111111-2222-3333-4444-555555555555".into(),
            client_secret: secret.clone(),
            realm: Some("tenant-realm".into()),
        };
        let aud = "11111111-2222-3333-4444-555555555555/rer.example.com@tenant-realm";
        let good = sign(&json!({"aud": aud, "exp": 2_000, "nbf": 1_000}), &secret);
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
            &json!({"aud": aud, "exp": 2_000}),
            &base64::engine::general_purpose::STANDARD.encode([1u8; 32]),
        );
        assert!(
            validate(&forged, &settings, "rer.example.com", 1_500)
                .unwrap_err()
                .contains("signature")
        );
        let other_realm = sign(
            &json!({"aud": aud.replace("tenant-realm", "x"), "exp": 2_000}),
            &secret,
        );
        assert!(validate(&other_realm, &settings, "rer.example.com", 1_500).is_err());
        assert!(validate("a.b", &settings, "h", 0).is_err());
    }
}
