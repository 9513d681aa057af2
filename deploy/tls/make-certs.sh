#!/usr/bin/env bash
# Makes a private CA and the certificates covtrack's services need, for development and tests:
#   ca.crt, ca.key                          the CA (keep ca.key away from the cluster)
#   ingestion.crt/.key, aggregation..., targets...
#                                           one per service, CN = the service's name (the
#                                           access policy's principal when it calls upstream),
#                                           for both serving and calling (serverAuth,
#                                           clientAuth), with the Service's DNS names as SANs
#   covtrack-admin.crt/.key                 a client certificate for covctl (CN covtrack-admin)
# Production should use certificates from the organisation's own PKI (or cert-manager) with the
# same CNs and names; deploy/README.md says how to load either into Secrets.
#
# usage: make-certs.sh OUT_DIR [NAMESPACE ...]     (namespaces: covtrack-dev covtrack)
set -euo pipefail
out=${1:?usage: make-certs.sh OUT_DIR [NAMESPACE ...]}
shift
namespaces=("$@")
((${#namespaces[@]})) || namespaces=(covtrack-dev covtrack)
days=${COVTRACK_CERT_DAYS:-825}
mkdir -p "$out"
cd "$out"
umask 077

if [ ! -f ca.key ]; then
  openssl req -x509 -newkey rsa:3072 -nodes -keyout ca.key -out ca.crt -days "$days" \
    -subj "/O=covtrack/CN=covtrack CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi

# issue NAME SAN_LIST
issue() {
  local name=$1 san=$2
  openssl req -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" \
    -subj "/O=covtrack/CN=$name" 2>/dev/null
  printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=$san" >"$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days "$days" \
    -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}

for service in ingestion aggregation targets; do
  san="DNS:covtrack-$service"
  for ns in "${namespaces[@]}"; do
    san+=",DNS:covtrack-$service.$ns,DNS:covtrack-$service.$ns.svc"
    san+=",DNS:covtrack-$service.$ns.svc.cluster.local"
  done
  issue "$service" "$san,DNS:localhost,IP:127.0.0.1"
done
issue covtrack-admin "DNS:covtrack-admin"
chmod 644 ./*.crt
echo "certificates in $out: ca.crt, {ingestion,aggregation,targets,covtrack-admin}.{crt,key}"
