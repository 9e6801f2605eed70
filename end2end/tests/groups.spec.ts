import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test, expect, expectAccessible, open, login, ADMIN, ADMIN_PASSWORD } from "./fixtures";

const root = path.resolve(__dirname, "..", "..");
const port = process.env.VIGIL_E2E_PORT ?? "18443";
const southPort = process.env.VIGIL_E2E_SOUTH_PORT ?? "18444";

function openssl(args: string[]) {
  execFileSync("openssl", args, { stdio: "ignore" });
}

test("an admin creates and verifies an enrollment group, and a device that registers appears live", async ({ page, errors }) => {
  // The factory's CA, made here with OpenSSL.
  const dir = mkdtempSync(path.join(tmpdir(), "vigil-group-"));
  const ca = path.join(dir, "ca.pem");
  const caKey = path.join(dir, "ca.key");
  openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
    "-subj", "/CN=E2E factory CA", "-keyout", caKey, "-out", ca,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"]);

  await login(page, ADMIN, ADMIN_PASSWORD);
  await expect(page.getByTestId("welcome")).toBeVisible();
  await page.getByRole("link", { name: "Admin" }).click();
  await expect(page.getByRole("heading", { name: "Enrollment groups" })).toBeVisible();
  await page.getByLabel("Group name").fill("e2e-line");
  await page.getByLabel("Most devices (optional)").fill("10");
  await page.getByLabel("…or upload it").setInputFiles(ca);
  await expect(page.getByLabel("The group's CA certificate (PEM)")).toHaveValue(/BEGIN CERTIFICATE/);
  await page.getByRole("button", { name: "Create group" }).click();
  const row = page.getByTestId("group-row-e2e-line");
  await expect(row.getByTestId("group-status")).toHaveText("unverified");

  // Proof of possession: the CA signs a certificate for the code shown.
  const code = (await row.getByTestId("verification-code").textContent())!.trim();
  const csr = path.join(dir, "proof.csr");
  const proof = path.join(dir, "proof.pem");
  openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", path.join(dir, "proof.key"), "-out", csr, "-subj", `/CN=${code}`]);
  openssl(["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", caKey, "-days", "1", "-out", proof]);
  await row.getByTestId("verification-certificate").fill(readFileSync(proof, "utf8"));
  await row.getByRole("button", { name: "Verify" }).click();
  await expect(row.getByTestId("group-status")).toHaveText("active");
  await expect(row.getByTestId("group-registered")).toHaveText("0 / 10");

  // On the devices list, a device registers itself through the group:
  // it appears without a reload.
  await open(page, "/");
  await expect(page.locator('[data-live="ready"]')).toHaveCount(1);
  await expect(page.getByTestId("device-row-e2e-factory-1")).toHaveCount(0);
  const out = execFileSync(path.join(root, "target", "debug", "vigil-device"),
    ["register", "--ca-cert", ca, "--ca-key", caKey, "--registration-id", "e2e-factory-1", "--out", path.join(dir, "device")], {
      cwd: root,
      encoding: "utf8",
      env: {
        ...process.env,
        VIGIL_TOKEN: "",
        VIGIL_NORTH_URL: `https://127.0.0.1:${port}`,
        VIGIL_SOUTH_URL: `https://127.0.0.1:${southPort}`,
        VIGIL_CA: path.join(root, "target", "e2e-data", "pki", "platform-ca.pem"),
      },
    });
  expect(JSON.parse(out).registration_id).toBe("e2e-factory-1");
  await expect(page.getByTestId("device-row-e2e-factory-1").getByTestId("device-status")).toHaveText("active");

  // The security overview and the signing keys.
  await page.getByRole("link", { name: "Security" }).click();
  await expect(page.getByRole("heading", { name: "Security overview" })).toBeVisible();
  await expect(page.getByTestId("active-device-tokens")).toBeVisible();
  await expectAccessible(page);
  const before = (await page.getByTestId("signing-key").textContent())!.trim();
  await page.getByRole("link", { name: "Admin" }).click();
  await page.getByRole("button", { name: "Rotate the signing key" }).click();
  await expect(page.getByTestId("key-retired")).toHaveCount(1);
  await page.getByRole("link", { name: "Security" }).click();
  await expect(page.getByTestId("signing-key")).not.toHaveText(before);

  // Revoking the group asks first, naming what stays: Cancel changes
  // nothing; confirming revokes it and says so in a toast.
  await page.getByRole("link", { name: "Admin" }).click();
  await row.getByRole("button", { name: "Revoke group", exact: true }).click();
  const dialog = page.getByRole("dialog");
  await expect(dialog).toContainText("The devices it registered stay active");
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await expect(dialog).toBeHidden();
  await expect(row.getByTestId("group-status")).toHaveText("active");
  await row.getByRole("button", { name: "Revoke group", exact: true }).click();
  await dialog.getByRole("button", { name: "Revoke e2e-line" }).click();
  await expect(row.getByTestId("group-status")).toHaveText("revoked");
  await expect(page.getByTestId("toast").filter({ hasText: "Group revoked" })).toBeVisible();
  await page.getByRole("link", { name: "Devices", exact: true }).click();
  await expect(page.getByTestId("device-row-e2e-factory-1").getByTestId("device-status")).toHaveText("active");
});
