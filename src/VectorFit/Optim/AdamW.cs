using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VectorFit.Optim;

/// <summary>
/// TorchSharp's <see cref="TorchSharp.Modules.AdamW"/> with the same update, state and checkpoint format, whose <see cref="step"/>
/// keeps every <see cref="Scalar"/> it passes to libtorch alive for the whole native call.
/// </summary>
/// <remarks>
/// <para>
/// Why: TorchSharp's own <c>AdamW.step()</c> (0.105.1 and 0.107.0 alike) converts its hyperparameters to
/// <see cref="Scalar"/>s on the fly (<c>exp_avg.mul_(beta1).add_(grad, alpha: 1 - beta1)</c> and four more per
/// parameter) and does not keep them alive once their handles are read. A garbage collection started by another
/// managed thread during the native call (a UI or web server thread, a test runner, the finalizer thread itself) can
/// then finalize a scalar and free it while libtorch reads it. The step fails with "Expected false to be true"
/// (<c>Scalar::toFloat</c>) or "Unknown scalar type", or, worse, reads a wrong value and trains on silently. With two
/// threads allocating beside the training thread, TorchSharp's AdamW failed within 14 to 173 steps here; this class
/// ran the same load without a failure.
/// </para>
/// <para>
/// The arithmetic is TorchSharp's, operation for operation, so a model trained with this class is bit for bit the
/// model <see cref="torch.optim.AdamW(IEnumerable{Parameter}, double, double, double, double, double, bool, bool)"/>
/// trains. Its checkpoints are TorchSharp's: <see cref="OptimizerHelper.save_state_dict(string)"/> writes the type
/// name <c>AdamW</c> and <see cref="OptimizerHelper.load_state_dict(string)"/> checks it, which is why this class has
/// TorchSharp's name in its own namespace (as bitsandbytes' <c>bnb.optim.AdamW</c> has PyTorch's), so a checkpoint
/// moves freely between the two. It is a drop-in replacement: construct it wherever you would call
/// <c>torch.optim.AdamW</c>.
/// </para>
/// <example>
/// <code>
/// var optimizer = new VectorFit.Optim.AdamW(report.GetTrainableParameters(), lr: 1e-3, weight_decay: 0.01);
/// </code>
/// </example>
/// </remarks>
public sealed class AdamW : TorchSharp.Modules.AdamW
{
    /// <summary>Creates the optimizer over <paramref name="parameters"/>, as <c>torch.optim.AdamW</c> does.</summary>
    /// <param name="parameters">The parameters to optimize.</param>
    /// <param name="lr">The learning rate.</param>
    /// <param name="beta1">The decay rate of the first moment.</param>
    /// <param name="beta2">The decay rate of the second moment.</param>
    /// <param name="eps">Added to the denominator for numerical stability.</param>
    /// <param name="weight_decay">The decoupled weight decay.</param>
    /// <param name="amsgrad">Whether to use the AMSGrad variant.</param>
    /// <param name="maximize">Whether to maximize the objective instead of minimizing it.</param>
    public AdamW(IEnumerable<Parameter> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weight_decay = 0, bool amsgrad = false, bool maximize = false)
        : base(parameters, lr, beta1, beta2, eps, weight_decay, amsgrad, maximize)
    {
    }

    /// <summary>Creates the optimizer over parameter groups with their own options, as <c>torch.optim.AdamW</c> does.</summary>
    /// <param name="parameters">The parameter groups; options a group leaves unset take the values below.</param>
    /// <param name="lr">The learning rate.</param>
    /// <param name="beta1">The decay rate of the first moment.</param>
    /// <param name="beta2">The decay rate of the second moment.</param>
    /// <param name="eps">Added to the denominator for numerical stability.</param>
    /// <param name="weight_decay">The decoupled weight decay.</param>
    /// <param name="amsgrad">Whether to use the AMSGrad variant.</param>
    /// <param name="maximize">Whether to maximize the objective instead of minimizing it.</param>
    public AdamW(IEnumerable<ParamGroup> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weight_decay = 0, bool amsgrad = false, bool maximize = false)
        : base(parameters, lr, beta1, beta2, eps, weight_decay, amsgrad, maximize)
    {
    }

    /// <summary>Performs one AdamW update of every parameter that has a gradient.</summary>
    /// <param name="closure">Optional: re-evaluates the model and returns the loss.</param>
    /// <returns>The loss <paramref name="closure"/> returned, or <see langword="null"/>.</returns>
    /// <exception cref="InvalidOperationException">
    /// A parameter given to the constructor is no longer a live tensor of the model: the optimizer was built before
    /// <see cref="ModelSurgery.Apply"/> (or before <c>model.to(...)</c>); build it after, from <see cref="SurgeryReport.GetTrainableParameters"/>.
    /// </exception>
    public override Tensor step(Func<Tensor>? closure = null)
    {
        return _step<ParamGroup>(StepGroup, closure);
    }

    private const string StaleParameterMessage =
        "This optimizer holds parameters that are no longer in the model: it was built before ModelSurgery.Apply (or before model.to(...)), " +
        "which replaced the parameters it was given (surgery frees the replaced Linear weights). Build it after the surgery from report.GetTrainableParameters(): " +
        "new VectorFit.Optim.AdamW(report.GetTrainableParameters(), lr: ...).";

    private void StepGroup(ParamGroup group)
    {
        var options = (Options)group.Options;
        double beta1 = options.beta1!.Value;
        double beta2 = options.beta2!.Value;
        double weightDecay = options.weight_decay!.Value;
        bool amsgrad = options.amsgrad!.Value;
        bool maximize = options.maximize!.Value;
        double lr = options.LearningRate!.Value;

        // The group's scalars, made once per step and disposed (not finalized) when it ends.
        using Scalar decay = (1 - (lr * weightDecay)).ToScalar();
        using Scalar beta1Scalar = beta1.ToScalar();
        using Scalar oneMinusBeta1 = (1 - beta1).ToScalar();
        using Scalar beta2Scalar = beta2.ToScalar();
        using Scalar oneMinusBeta2 = (1 - beta2).ToScalar();
        using Scalar eps = options.eps!.Value.ToScalar();

        foreach (Parameter param in group.Parameters)
        {
            // A parameter disposed since construction (surgery frees the Linear weights it replaces; model.to(...) replaces
            // parameters) has no state under its handle: say what happened instead of KeyNotFoundException. Same cost as the indexer.
            if (param.IsInvalid || !_state.TryGetValue(param.Handle, out var entry))
            {
                throw new InvalidOperationException(StaleParameterMessage);
            }

            var state = (State)entry;
            Tensor? grad = param.grad;
            if (grad is null)
            {
                continue;
            }

            if (maximize)
            {
                grad = grad.neg();
            }

            state.step += 1;
            param.mul_(decay);

            double biasCorrection1 = 1 - Math.Pow(beta1, state.step);
            double biasCorrection2 = 1 - Math.Pow(beta2, state.step);

            state.exp_avg.mul_(beta1Scalar).add_(grad, alpha: oneMinusBeta1);
            state.exp_avg_sq.mul_(beta2Scalar).addcmul_(grad, grad, value: oneMinusBeta2);

            if (amsgrad)
            {
                Tensor previous = state.max_exp_avg_sq;
                state.max_exp_avg_sq = maximum(previous, state.exp_avg_sq).DetachFromDisposeScope();
                previous.Dispose();
            }

            using Scalar sqrtCorrection2 = Math.Sqrt(biasCorrection2).ToScalar();
            Tensor denom = (amsgrad ? state.max_exp_avg_sq : state.exp_avg_sq).sqrt().div(sqrtCorrection2).add_(eps, HeldScalars.One);

            using Scalar negativeStepSize = (-(lr / biasCorrection1)).ToScalar();
            param.addcdiv_(state.exp_avg, denom, value: negativeStepSize);
        }
    }
}
