import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test, expect, open, login, ADMIN, ADMIN_PASSWORD } from "./fixtures";

test("an admin enrolls a device from an uploaded CSR and gets its certificate", async ({ page, errors }) => {
  const dir = mkdtempSync(path.join(tmpdir(), "vigil-csr-"));
  const csr = path.join(dir, "device.csr");
  execFileSync("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", path.join(dir, "device.key"), "-out", csr, "-subj", "/CN=ignored"]);
  await login(page, ADMIN, ADMIN_PASSWORD);
  await expect(page.getByTestId("welcome")).toBeVisible();
  await page.getByRole("link", { name: "Admin" }).click();
  await expect(page.getByRole("heading", { name: "Enroll a device" })).toBeVisible();
  await page.getByLabel("Registration id").fill("e2e-csr");
  await page.getByLabel("Name", { exact: true }).fill("CSR device");
  await page.getByLabel("…or upload the CSR file").setInputFiles(csr);
  await expect(page.getByLabel("…or a CSR (PEM) for the device CA to sign")).toHaveValue(/BEGIN CERTIFICATE REQUEST/);
  await page.getByRole("button", { name: "Enroll" }).click();
  await expect(page.getByRole("status")).toContainText("Enrolled e2e-csr.");
  const link = page.getByRole("link", { name: "Download its certificate" });
  expect(decodeURIComponent((await link.getAttribute("href")) ?? "")).toContain("BEGIN CERTIFICATE");

  // The token list filters: the admin's own session is listed as active.
  await page.getByRole("button", { name: "Filter" }).click();
  await expect(page.getByRole("heading", { name: "Tokens" })).toBeVisible();
  await expect(page.locator("section", { has: page.getByRole("heading", { name: "Tokens" }) }).getByText("user 1").first()).toBeVisible();
  await open(page, "/");
  await expect(page.getByTestId("device-row-e2e-csr")).toBeVisible();
});
