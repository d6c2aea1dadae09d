"""Strategy backtest (issue 10): the keepers' rebalancing strategy against baselines on
generated market paths, under the vault's own bounds and the strategy's own gas gate.

    python -m benchmarks.backtest.generate --paths 200 --seed 1 --out FILE.json.gz
    python -m benchmarks.backtest --scenarios FILE.json.gz --out results.json
    python -m benchmarks.backtest.generate --family NAME --paths 10 --out FILE.json.gz
    python -m benchmarks.backtest --split train|test|reference --paths-per-family 10 --jobs 2

- `generate`: the market model; `scenario`: the JSON scenario format (README.md: "Scenario
  format"); `families`, `draft`: the named market families and the train/test split;
- `flows`: depositor entries and redemptions in the simulated vault; `splits`: the per-family
  run of a split;
- `simulate`: the vault of deployments/config/local.yaml stepped day by day, rebalances checked
  and moved as `RebalanceModule` does, gas from benchmarks/gas/snapshot.json, each sleeve's
  trading cost (`costs`: bps of the value moved, charged to every policy); the keeper's
  strategy through `keepers.jobs.plan_rebalance`;
- `baselines`: equal weight, a static target, a max-APY chaser, the hindsight-optimal mix;
- `metrics`: return, Sharpe, max drawdown, turnover, gas, trading cost, breaches; aggregates
  and goals;
- `chart`: the PNG next to the results.
"""
