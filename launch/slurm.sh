#!/usr/bin/env bash
# Slurm: start Ray across the allocated nodes (head on the first), run one trex search, stop Ray.
#   sbatch launch/slurm.sh +task=math search.max_nodes=21        # arguments are trex overrides
# Resources: edit the #SBATCH lines (or override them on the sbatch command line).
#SBATCH --job-name=trex
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=32
#SBATCH --time=48:00:00
#SBATCH --output=trex-%j.log
set -euo pipefail

cd "${SLURM_SUBMIT_DIR:-$(dirname "$0")/..}"
[ -f .venv/bin/activate ] && . .venv/bin/activate       # trex installed with the gpu extra
PORT=${RAY_PORT:-6379}
mapfile -t NODES < <(scontrol show hostnames "$SLURM_JOB_NODELIST")
HEAD=${NODES[0]}
HEAD_IP=$(srun --nodes=1 --ntasks=1 -w "$HEAD" hostname --ip-address | awk '{print $1}')
export RAY_ADDRESS="$HEAD_IP:$PORT"
GPUS=${SLURM_GPUS_PER_NODE:-0}; GPUS=${GPUS##*:}       # "4" or "h100:4"
CPUS=${SLURM_CPUS_PER_TASK:-1}

echo "[trex] Ray head on $HEAD ($RAY_ADDRESS); ${#NODES[@]} node(s), $GPUS GPU(s) and $CPUS CPU(s) each"
srun --nodes=1 --ntasks=1 -w "$HEAD" \
  ray start --head --node-ip-address="$HEAD_IP" --port="$PORT" --num-cpus="$CPUS" --num-gpus="$GPUS" --block &
sleep 15
for node in "${NODES[@]:1}"; do
  srun --nodes=1 --ntasks=1 -w "$node" \
    ray start --address="$RAY_ADDRESS" --num-cpus="$CPUS" --num-gpus="$GPUS" --block &
done
sleep 15
ray status --address="$RAY_ADDRESS"

status=0
python -m trex.launch cluster=ray cluster.address="$RAY_ADDRESS" "$@" || status=$?
ray stop --force || true
kill $(jobs -p) 2>/dev/null || true
exit $status
