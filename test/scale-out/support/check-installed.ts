import { requirePrograms } from "./processes.ts";

/** Before any scale-out test starts a cluster: every Debian package it needs is there, or one message names them. */
export default function checkInstalled() {
  requirePrograms(["pgbouncer", "haproxy", "postgres15"]);
}
