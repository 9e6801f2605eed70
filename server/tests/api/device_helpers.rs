//! Device certificates made in the test (rcgen), and mutual-TLS clients.

use app::types::{Device, DeviceToken, EnrollRequest, EnrollResponse};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use reqwest::{Certificate, Client, Identity, Response};
use serde::Serialize;
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

    /// The devices list as `token` sees it (its first page).
    pub async fn devices(&self, token: &str) -> Vec<Device> {
        let res = self.get("/api/v1/devices", token).await;
        assert_eq!(res.status(), 200, "the devices list");
        res.json().await.unwrap()
    }

    /// Posts an enrollment body as given, well-formed or not.
    pub async fn try_enroll(&self, token: &str, body: &impl Serialize) -> Response {
        let body = serde_json::to_value(body).unwrap();
        self.post("/api/v1/devices", token, Some(body)).await
    }

    /// Enrolls a device; the enrollment must succeed.
    pub async fn enroll(&self, token: &str, req: &EnrollRequest) -> EnrollResponse {
        let res = self.try_enroll(token, req).await;
        assert_eq!(
            res.status(),
            201,
            "enrollment of {} should succeed",
            req.registration_id
        );
        res.json().await.unwrap()
    }

    /// Enrolls a fresh self-signed device; returns (device, cert, client).
    pub async fn enrolled_device(
        &self,
        token: &str,
        registration_id: &str,
    ) -> (Device, DeviceCert, Client) {
        self.enrolled_device_with(token, registration_id, CertSpec::default())
            .await
    }

    /// As `enrolled_device`, with a certificate made to `spec`.
    pub async fn enrolled_device_with(
        &self,
        token: &str,
        registration_id: &str,
        spec: CertSpec,
    ) -> (Device, DeviceCert, Client) {
        let cert = self_signed(registration_id, spec);
        let req = EnrollRequest {
            registration_id: registration_id.to_owned(),
            name: "test device".to_owned(),
            cert_sha256: Some(cert.thumbprint()),
            csr_pem: None,
        };
        let enrolled = self.enroll(token, &req).await;
        let client = self.device_client(&cert.cert_pem, &cert.key_pem);
        (enrolled.device, cert, client)
    }
}

pub async fn device_token(app: &TestApp, client: &Client) -> DeviceToken {
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
    body: impl Serialize,
) -> reqwest::Result<Response> {
    client
        .post(app.south_url("/device/v1/readings"))
        .header("x-access-token", token)
        .json(&body)
        .send()
        .await
}
