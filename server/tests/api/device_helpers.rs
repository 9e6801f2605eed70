//! Device certificates made in the test (rcgen), and mutual-TLS clients.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use reqwest::{Certificate, Client, Identity, Response};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::helpers::TestApp;

pub struct DeviceCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

impl DeviceCert {
    pub fn thumbprint(&self) -> String {
        hex::encode(Sha256::digest(&self.der))
    }
}

pub struct CertSpec {
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub eku: Vec<ExtendedKeyUsagePurpose>,
}

impl Default for CertSpec {
    fn default() -> Self {
        let now = OffsetDateTime::now_utc();
        CertSpec {
            not_before: now - Duration::hours(1),
            not_after: now + Duration::days(30),
            eku: vec![ExtendedKeyUsagePurpose::ClientAuth],
        }
    }
}

fn params(cn: &str, spec: &CertSpec) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.not_before = spec.not_before;
    p.not_after = spec.not_after;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = spec.eku.clone();
    p
}

pub fn self_signed(cn: &str, spec: CertSpec) -> DeviceCert {
    let key = KeyPair::generate().unwrap();
    let cert = params(cn, &spec).self_signed(&key).unwrap();
    DeviceCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().to_vec(),
    }
}

/// A certificate from a CA the platform has never heard of.
pub fn signed_by_stranger_ca(cn: &str) -> DeviceCert {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::default();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "stranger CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = params(cn, &CertSpec::default())
        .signed_by(&key, &issuer)
        .unwrap();
    DeviceCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().to_vec(),
    }
}

/// A key and a CSR asking for `cn`.
pub fn csr(cn: &str) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, cn);
    (
        p.serialize_request(&key).unwrap().pem().unwrap(),
        key.serialize_pem(),
    )
}

impl TestApp {
    pub fn south_url(&self, path: &str) -> String {
        format!(
            "https://127.0.0.1:{}{}",
            self.app.device_addr().port(),
            path
        )
    }

    fn platform_ca(&self) -> Certificate {
        Certificate::from_pem(&std::fs::read(self.data.path().join("pki/platform-ca.pem")).unwrap())
            .unwrap()
    }

    /// A client that presents this certificate on the south listener.
    pub fn device_client(&self, cert_pem: &str, key_pem: &str) -> Client {
        let identity = Identity::from_pem(format!("{cert_pem}{key_pem}").as_bytes()).unwrap();
        Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(self.platform_ca())
            .identity(identity)
            .https_only(true)
            .build()
            .unwrap()
    }

    /// A client with no certificate, trusting the platform CA.
    pub fn anonymous_south_client(&self) -> Client {
        Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(self.platform_ca())
            .build()
            .unwrap()
    }

    pub async fn enroll(&self, token: &str, body: Value) -> Response {
        self.post("/api/v1/devices", token, Some(body)).await
    }

    /// Enrolls a fresh self-signed device; returns (device JSON, cert, client).
    pub async fn enrolled_device(
        &self,
        token: &str,
        registration_id: &str,
    ) -> (Value, DeviceCert, Client) {
        let cert = self_signed(registration_id, CertSpec::default());
        let res = self
            .enroll(token, json!({"registration_id": registration_id, "name": "test device", "cert_sha256": cert.thumbprint()}))
            .await;
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.unwrap();
        let client = self.device_client(&cert.cert_pem, &cert.key_pem);
        (body["device"].clone(), cert, client)
    }
}

pub async fn device_token(app: &TestApp, client: &Client) -> Value {
    let res = client
        .post(app.south_url("/device/v1/token"))
        .send()
        .await
        .expect("handshake accepted");
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

pub async fn send_readings(
    app: &TestApp,
    client: &Client,
    token: &str,
    body: Value,
) -> reqwest::Result<Response> {
    client
        .post(app.south_url("/device/v1/readings"))
        .header("x-access-token", token)
        .json(&body)
        .send()
        .await
}
