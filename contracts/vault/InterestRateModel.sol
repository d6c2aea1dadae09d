// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IInterestRateModel} from "interfaces/IInterestRateModel.sol";
import {IParameterRegistry} from "interfaces/IParameterRegistry.sol";

/// @title InterestRateModel
/// @notice Kinked (jump-rate) borrow rate of the lending book, read from the registry's
///         `lend.rate.baseBps`, `lend.rate.slope1Bps`, `lend.rate.slope2Bps` and `lend.rate.kinkBps`.
/// @dev With utilization `u = debt / (cash + debt)` (WAD, rounded down) and the parameters in WAD:
///      - `u <= kink`: `rate = base + slope1 * u / kink`
///      - `u >  kink`: `rate = base + slope1 + slope2 * (u - kink) / (1 - kink)`
///      Each division rounds down. The rate is annual (WAD: 1e18 = 100% a year); the lending
///      book turns it into an index, linear between accruals. Aave V3's and Compound's model.
contract InterestRateModel is IInterestRateModel {
    using Math for uint256;

    uint256 internal constant WAD = 1e18;
    uint256 internal constant BPS_TO_WAD = 1e14;
    bytes32 internal constant BASE = keccak256("lend.rate.baseBps");
    bytes32 internal constant SLOPE1 = keccak256("lend.rate.slope1Bps");
    bytes32 internal constant SLOPE2 = keccak256("lend.rate.slope2Bps");
    bytes32 internal constant KINK = keccak256("lend.rate.kinkBps");

    IParameterRegistry public immutable registry;

    constructor(IParameterRegistry registry_) {
        registry = registry_;
    }

    /// @notice `debt / (cash + debt)` in WAD, rounded down; 0 when nothing is lent.
    function utilization(uint256 cash, uint256 debt) public pure returns (uint256) {
        if (debt == 0) return 0;
        return debt.mulDiv(WAD, cash + debt);
    }

    /// @notice Annual borrow rate (WAD) for a book holding `cash` and owed `debt`.
    function borrowRate(uint256 cash, uint256 debt) external view returns (uint256) {
        uint256 base = registry.get(BASE) * BPS_TO_WAD;
        uint256 slope1 = registry.get(SLOPE1) * BPS_TO_WAD;
        uint256 kink = registry.get(KINK) * BPS_TO_WAD;
        uint256 u = utilization(cash, debt);
        if (u <= kink) {
            return kink == 0 ? base : base + slope1.mulDiv(u, kink);
        }
        // u > kink, so kink < WAD: the second segment's denominator is positive.
        uint256 slope2 = registry.get(SLOPE2) * BPS_TO_WAD;
        return base + slope1 + slope2.mulDiv(u - kink, WAD - kink);
    }
}
