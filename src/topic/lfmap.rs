//! Lock-free open-addressing map (to come).
