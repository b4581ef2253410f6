#!/usr/bin/env bash
# The multi-machine walkthrough of docs/federation.md on one machine: a coordinator and three member nodes on
# loopback, with TLS and SuperNode authentication, training 3 rounds over Flower's deployment runtime.
#
#   bash scripts/federation-loopback.sh [WORKDIR]      (default: a fresh temporary folder; kept afterwards)
#
# FAIRSHARE_SUPERLINK_PORT picks the SuperLink's port (default 19092; nodes use the next ports from +10).
# FAIRSHARE_EXAMPLE=<consortium file> takes [data], [model], [training]... from another example (default
# examples/healthcare.toml; examples/imaging.toml trains a PyTorch network), FAIRSHARE_MEMBERS="a b" names the
# members (default: three hospitals), FAIRSHARE_ROUNDS the rounds to train (default 3: value vests from round 3).
# FAIRSHARE_SKIP_NODE=<member> leaves that member's node down, FAIRSHARE_NODE_TIMEOUT=<s> sets how long a round
# waits for it ([federation] node_timeout_seconds): the operator then sees who is missing, and training stops.
#
# FAIRSHARE_CHAIN_URL=<url> runs the consortium on that JSON-RPC node (e.g. anvil; key from FAIRSHARE_DEPLOYER_KEY)
# instead of the embedded chain; with it, FAIRSHARE_VALIDATOR=<name> adds a validator on its own "machine" (its own
# key, its own rows, `fairshare validator start`) beside the coordinator: the scores are then their medians.
#
# Each "machine" is a folder: coordinator/ holds the consortium (chain, SuperLink); <member>/ holds what
# that member's machine holds: its node key pair, its account key, its data and its node file.
set -euo pipefail
cd "$(dirname "$0")/.."
FAIRSHARE="${FAIRSHARE:-.venv/bin/fairshare}"
WORK="${1:-$(mktemp -d -t fairshare-federation-XXXX)}"
PORT="${FAIRSHARE_SUPERLINK_PORT:-19092}"
EXAMPLE="${FAIRSHARE_EXAMPLE:-examples/healthcare.toml}"
NAME=$(sed -n 's/^name = "\(.*\)"/\1/p' "$EXAMPLE" | head -1)
ROUNDS="${FAIRSHARE_ROUNDS:-3}"
read -r -a MEMBERS <<< "${FAIRSHARE_MEMBERS:-st-marys northgate-clinic riverside-general}"
mkdir -p "$WORK/coordinator"
export FAIRSHARE_HOME="$WORK/coordinator/home"
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

echo "== members create their node keys and account keys (on their own machines; private keys stay there)"
declare -A ADDRESS
for m in "${MEMBERS[@]}"; do
  mkdir -p "$WORK/$m"
  [ -f "$WORK/$m/node-key" ] || "$FAIRSHARE" node keygen --out "$WORK/$m/node-key"
  [ -f "$WORK/$m/account.json" ] || "$FAIRSHARE" node account --out "$WORK/$m/account.json" | tee "$WORK/$m/account.txt"
  ADDRESS[$m]=$(grep -o '0x[0-9a-fA-F]\{40\}' "$WORK/$m/account.txt" | head -1)
done

echo "== the coordinator sets up the consortium with their public node keys and account addresses"
CONFIG="$WORK/coordinator/consortium.toml"
sed -e '/^\[\[members\]\]/,$d' "$EXAMPLE" > "$CONFIG"
cat >> "$CONFIG" <<TOML
[federation]
address = "127.0.0.1:$PORT"
hostnames = ["localhost", "127.0.0.1"]
${FAIRSHARE_NODE_TIMEOUT:+node_timeout_seconds = $FAIRSHARE_NODE_TIMEOUT}

[federation.node_keys]
TOML
for m in "${MEMBERS[@]}"; do echo "$m = \"$WORK/$m/node-key.pub\"" >> "$CONFIG"; done
for m in "${MEMBERS[@]}"; do printf '\n[[members]]\nname = "%s"\naddress = "%s"\n' "$m" "${ADDRESS[$m]}" >> "$CONFIG"; done
VALIDATOR="${FAIRSHARE_VALIDATOR:-}"
if [ -n "$VALIDATOR" ]; then
  echo "== an independent validator creates its account key on its own machine"
  mkdir -p "$WORK/$VALIDATOR"
  "$FAIRSHARE" node account --out "$WORK/$VALIDATOR/account.json" | tee "$WORK/$VALIDATOR/account.txt"
  VADDRESS=$(grep -o '0x[0-9a-fA-F]\{40\}' "$WORK/$VALIDATOR/account.txt" | head -1)
  printf '\n[[validators]]\nname = "coordinator"\n\n[[validators]]\nname = "%s"\naddress = "%s"\n' "$VALIDATOR" "$VADDRESS" >> "$CONFIG"
  printf '\n[committee]\ncommit_blocks = 4\nreveal_blocks = 4\nchallenge_blocks = 2\nwait_seconds = 120\n' >> "$CONFIG"
fi
"$FAIRSHARE" init --config "$CONFIG" ${FAIRSHARE_CHAIN_URL:+--chain "$FAIRSHARE_CHAIN_URL"}
RUN="$FAIRSHARE_HOME/runs/$NAME/$(ls "$FAIRSHARE_HOME/runs/$NAME" | sort -n | tail -1)"
if [ -n "$VALIDATOR" ]; then
  echo "== the validator gets its rows (here: its cut of the holdout) and watches the committee"
  cp "$RUN/validators/$VALIDATOR.npz" "$WORK/$VALIDATOR/validation.npz"
  COMMITTEE=$(grep -o '"committee": "0x[0-9a-fA-F]\{40\}"' "$RUN/run.json" | grep -o '0x[0-9a-fA-F]\{40\}')
  cat > "$WORK/$VALIDATOR/validator.toml" <<TOML
chain = "$FAIRSHARE_CHAIN_URL"
committee = "$COMMITTEE"
account_key = "account.json"
data = "validation.npz"
handoff = "$RUN/rounds"
TOML
  "$FAIRSHARE" validator start --config "$WORK/$VALIDATOR/validator.toml" > "$WORK/$VALIDATOR/validator.log" 2>&1 &
  PIDS+=($!)
fi

echo "== the coordinator starts the SuperLink and registers the admitted members' nodes"
"$FAIRSHARE" coordinator start > "$WORK/coordinator/coordinator.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 120); do grep -q "coordinator ready" "$WORK/coordinator/coordinator.log" && break; sleep 0.5; done
cat "$WORK/coordinator/coordinator.log"
grep -q "coordinator ready" "$WORK/coordinator/coordinator.log"

echo "== each member receives the CA certificate (and, here, its share of the demo data) and starts its node"
NODE_PORT=$((PORT + 10))
for m in "${MEMBERS[@]}"; do
  cp "$RUN/federation/certs/ca.crt" "$WORK/$m/ca.crt"
  cp "$RUN/data/$m.npz" "$WORK/$m/data.npz"
  cat > "$WORK/$m/member.toml" <<TOML
member = "$m"
superlink = "127.0.0.1:$PORT"
root_certificates = "ca.crt"
node_key = "node-key"
account_key = "account.json"
data = "data.npz"
port = $NODE_PORT
TOML
  FACTORY=$(sed -n 's/^factory = "\([^"]*\)".*/\1/p' "$EXAMPLE" | head -1)
  if [ -n "$FACTORY" ]; then echo "model_factory = \"$FACTORY\"" >> "$WORK/$m/member.toml"; fi
  # FAIRSHARE_FORGER=<member>: that node signs with a key that is not its account, to watch it being refused
  if [ "${FAIRSHARE_FORGER:-}" = "$m" ]; then echo 'behaviour = "forger"' >> "$WORK/$m/member.toml"; fi
  NODE_PORT=$((NODE_PORT + 1))
  if [ "${FAIRSHARE_SKIP_NODE:-}" = "$m" ]; then echo "($m's node stays down)"; continue; fi
  "$FAIRSHARE" node start --config "$WORK/$m/member.toml" > "$WORK/$m/node.log" 2>&1 &
  PIDS+=($!)
done

echo "== the operator trains $ROUNDS rounds over the federation"
"$FAIRSHARE" train --federation "$NAME" --rounds "$ROUNDS"
"$FAIRSHARE" audit
echo "members withdraw later with their own keys: fairshare withdraw --key <member>/account.json"
echo "work folder: $WORK"
