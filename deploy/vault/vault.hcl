# Vault for compose.yml: integrated storage (raft) on the vaultdata volume, one node. TLS is off because the
# listener is reached only on the compose network and 127.0.0.1; put TLS in front (or configure tls_cert_file /
# tls_key_file here) before exposing it anywhere else.
storage "raft" {
  path    = "/vault/file"
  node_id = "vault-1"
}

listener "tcp" {
  address     = "0.0.0.0:8200"
  tls_disable = true
}

api_addr      = "http://vault:8200"
cluster_addr  = "http://vault:8201"
disable_mlock = true  # recommended with integrated storage
ui            = true
