// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IRWAIssuer
/// @notice Adapter to the issuer of a tokenized real-world asset (a T-bill fund, a gold
///         custodian, an invoice pool): subscriptions and redemptions in the vault's base asset.
/// @dev Assumptions: the issuer prices subscriptions and redemptions at the same NAV the
///      OracleRouter reports for `rwaToken()`; `subscribe` pulls `assets` from the caller (who has
///      approved this adapter) and mints tokens to it; `redeem` takes `tokens` from the caller and
///      pays base asset to it, and reverts above `maxRedeem()`. Issuers may limit redemptions per
///      day or freeze them entirely: `maxRedeem()` is then below the caller's balance (0 when
///      frozen).
interface IRWAIssuer {
    /// @notice The base asset (stablecoin) subscriptions are paid in.
    function asset() external view returns (address);

    /// @notice The RWA token this issuer mints and redeems.
    function rwaToken() external view returns (address);

    /// @notice Buys RWA tokens for `assets` of the base asset.
    /// @return tokens RWA tokens minted to the caller.
    function subscribe(uint256 assets) external returns (uint256 tokens);

    /// @notice Redeems `tokens` RWA tokens for base asset.
    /// @return assets Base asset paid to the caller.
    function redeem(uint256 tokens) external returns (uint256 assets);

    /// @notice RWA tokens that can be redeemed right now (the issuer's limit; 0 when frozen).
    function maxRedeem() external view returns (uint256 tokens);
}
