// The Adam-family update shared by Adam and AdamW (they differ only in how weight decay enters).
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace TorchSharp
{
    internal static class AdamUpdate
    {
        internal static void Validate(double lr, double beta1, double beta2, double eps, double weight_decay)
        {
            if (lr < 0) throw new ArgumentException($"Invalid learning rate: {lr}");
            if (eps < 0) throw new ArgumentException($"Invalid ε: {eps}");
            if (beta1 < 0 || beta1 >= 1.0) throw new ArgumentException($"Invalid beta1: {beta1}");
            if (beta2 < 0 || beta2 >= 1.0) throw new ArgumentException($"Invalid beta2: {beta2}");
            if (weight_decay < 0) throw new ArgumentException($"Invalid weight_decay value: {weight_decay}");
        }

        /// <summary>
        /// Applies step <paramref name="t"/> (already counted) to <paramref name="p"/>, in place, updating the moments.
        /// Runs inside the optimizer's no-grad dispose scope, so temporaries are released there.
        /// </summary>
        internal static void Apply(Parameter p, Tensor grad, long t, Tensor exp_avg, Tensor exp_avg_sq, ref Tensor? max_exp_avg_sq,
            double lr, double beta1, double beta2, double eps, double weight_decay, bool amsgrad, bool maximize, bool decoupled)
        {
            var g = maximize ? grad.neg() : grad;
            if (weight_decay != 0) {
                if (decoupled) p.mul_(1 - lr * weight_decay);   // AdamW: shrink the parameter itself
                else g = g.add(p, weight_decay);                  // Adam: L2 penalty in the gradient
            }

            exp_avg.mul_(beta1).add_(g, 1 - beta1);
            exp_avg_sq.mul_(beta2).addcmul_(g, g, 1 - beta2);

            var second = exp_avg_sq;
            if (amsgrad) {
                var previous = max_exp_avg_sq!;
                max_exp_avg_sq = maximum(previous, exp_avg_sq).DetachFromDisposeScope();
                previous.Dispose();
                second = max_exp_avg_sq;
            }

            double correction1 = 1 - Math.Pow(beta1, t);
            double correction2 = 1 - Math.Pow(beta2, t);
            // p ← p − lr · m̂ / (√v̂ + ε), with m̂ = m / correction1 and v̂ = v / correction2
            var denominator = second.sqrt().div_(Math.Sqrt(correction2)).add_(eps);
            p.addcdiv_(exp_avg, denominator, -lr / correction1);
        }
    }
}
