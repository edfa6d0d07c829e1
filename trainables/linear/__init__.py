"""sklearn-compatible cross-regularized linear estimators, trained by the project's `Engine`.

Three estimators share one fitting path (`CrossRegBase.fit`, in `estimators`):

* `CrossRegRidge`: the coefficient vector is ``w = rho * theta`` with unit theta
  (`NormFamily("l2")`); theta is stepped on the training split, rho on the validation split.
* `CrossRegLasso`: ``rho = |w|_1`` (`NormFamily("l1")`); the theta step is a projected
  gradient step onto the L1 sphere, rho moves along sign(w) (see `ThetaStep`).
* `CrossRegSpline`: an additive penalised cubic spline in a Demmler-Reinsch basis (orthonormal
  on the training rows), in which the roughness penalty ``int f''^2`` is the weighted squared
  norm ``sum_k s_k c_k^2`` of the penalised block and the null space (constant + linear) is
  free; rho = sqrt(roughness) through `WeightedL2Family`, NormFamily's level-set construction
  with a weighted L2 penalty (why not plain L2 on rescaled coefficients: see that class).

Everything is full batch: one `Engine.train_epoch` is one theta step on the whole training
split, and a rho step (every ``r`` theta steps) uses the whole validation split
(``Engine(reg_full_batch=True)``). The engine does the forwards, the backward passes, the
level-set parametrisation, the retractions and the forward-pass accounting; this module only
supplies the design matrices, the model, the two optimisers and the stopping rule.

Files: `model` (the linear model, split statistics), `families` (the spline's weighted-L2
family and the directions the optimisers need), `optimisers` (theta and rho steps),
`estimators` (the fitting path, ridge, lasso), `spline`.

Optimisers (why these):

* theta, ``theta_optimizer="gd"``: gradient descent with step ``lr / L``, L the Lipschitz
  constant of the training MSE's gradient, ``2 * lambda_max(X^T X / n)``. Safe, but its rate
  depends on the conditioning of X.
* theta, ``theta_optimizer="newton"`` (ridge and spline default): the tangent gradient the engine
  computes is preconditioned with ``(2 C + 2 mu P)^-1`` where ``C = X^T X / n`` (training Gram
  matrix, computed once: no extra forward pass), P selects the penalised block and ``mu >= 0``
  is the current Lagrange multiplier of the level-set constraint (clamped at 0). That is the
  Hessian of the Lagrangian: for ridge the step solves the quadratic model on the tangent space
  (a KKT system, an exact Riemannian Newton step); for the spline's weighted family it is the
  plain ``H^-1 g`` (see `ThetaStep.step` for why). Both converge in tens of steps where plain
  GD on the spline basis (Gram spanning ten orders of magnitude) would need ~1/(lambda s_1).
  Their fixed points are those of GD (positive-definite preconditioning; the step vanishes only
  where the tangent gradient does).
* rho, ``rho_optimizer="newton"`` (default): ``rho -= rho_lr * d * g / c`` with g = dL_val/drho
  (the engine's partial gradient) and ``c = 2 u^T C_val u`` the exact curvature of the
  validation MSE along ``u = dw/drho`` with theta fixed: for a quadratic loss, with
  ``rho_lr * d = 1``, the exact partial minimiser. Safeguards, each because a measured case
  needed it: d starts at 1 and halves whenever the step reverses direction (full steps cycled
  with period 2-3 on some spline seeds and around lasso support changes); a step changes rho
  by at most a factor (10; 2 for the spline); rho stays at or below R of the least-squares
  solution (beyond it the penalty would be negative; for the lasso that inflated every
  coefficient, a 19x validation MSE on one diabetes split); when rho falls below 1e-6 of its
  start the fit stops at w_pen = 0 (the validation split asks for the training mean).
  ``"sgd"`` and ``"adam"`` use torch's optimisers with lr ``rho_lr`` and none of these.
* stop when, between two rho steps, both w and rho move by less than ``tol`` (relative), or
  after ``max_iter`` theta steps (`ConvergenceWarning`).

Losses follow the engine: mean squared error on each split (intercept handled by centring on the
training split, exactly as sklearn's ``fit_intercept=True`` does).
"""

from .estimators import CrossRegLasso, CrossRegRidge
from .spline import CrossRegSpline

__all__ = ["CrossRegLasso", "CrossRegRidge", "CrossRegSpline"]
