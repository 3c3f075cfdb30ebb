"""Shared test helpers: a published history and its attacks (history.py), and real nodes
as pytest plugins: a regtest bitcoind (bitcoin_node.py) and Foundry's anvil (evm_node.py)."""
