// AdamW (Loshchilov & Hutter): Adam with decoupled weight decay. TorchSharp defaults weight_decay to 0 (PyTorch: 0.01).
// Nullable-oblivious like TorchSharp's optimizer sources (see Optimizer.cs).
#nullable disable
using System.IO;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace TorchSharp
{
    public static partial class torch
    {
        public static partial class optim
        {
            /// <summary>AdamW (Adam with decoupled weight decay; weight_decay defaults to 0, as in TorchSharp).</summary>
            public static Modules.AdamW AdamW(IEnumerable<Parameter> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weight_decay = 0, bool amsgrad = false, bool maximize = false) =>
                new(parameters, lr, beta1, beta2, eps, weight_decay, amsgrad, maximize);

            /// <summary>AdamW (Adam with decoupled weight decay; weight_decay defaults to 0, as in TorchSharp). Over named parameters (the names are ignored).</summary>
            public static Modules.AdamW AdamW(IEnumerable<(string name, Parameter parameter)> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weight_decay = 0, bool amsgrad = false, bool maximize = false) =>
                new(parameters.Select(np => np.parameter), lr, beta1, beta2, eps, weight_decay, amsgrad, maximize);

            /// <summary>AdamW (Adam with decoupled weight decay; weight_decay defaults to 0, as in TorchSharp). Over parameter groups; the arguments are the groups' defaults.</summary>
            public static Modules.AdamW AdamW(IEnumerable<Modules.AdamW.ParamGroup> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weight_decay = 0, bool amsgrad = false, bool maximize = false) =>
                new(parameters, lr, beta1, beta2, eps, weight_decay, amsgrad, maximize);
        }
    }

    namespace Modules
    {
        using static torch.optim;

        /// <summary>
        /// AdamW: p ← p·(1 − lr·λ); then Adam's moment update and step (bias-corrected, AMSGrad optional) on ±grad.
        /// </summary>
        public class AdamW : OptimizerHelper, IBetas
        {
            /// <summary>AdamW over one group of parameters.</summary>
            public AdamW(IEnumerable<Parameter> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weight_decay = 0, bool amsgrad = false, bool maximize = false)
                : this(new[] { new ParamGroup { Parameters = parameters } }, lr, beta1, beta2, eps, weight_decay, amsgrad, maximize)
            {
            }

            /// <summary>AdamW over parameter groups; the arguments are the defaults for options a group leaves unset.</summary>
            public AdamW(IEnumerable<ParamGroup> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weight_decay = 0, bool amsgrad = false, bool maximize = false)
            {
                AdamUpdate.Validate(lr, beta1, beta2, eps, weight_decay);
                _defaults = new Options {
                    LearningRate = lr,
                    InitialLearningRate = lr,
                    beta1 = beta1,
                    beta2 = beta2,
                    eps = eps,
                    weight_decay = weight_decay,
                    amsgrad = amsgrad,
                    maximize = maximize,
                };
                _parameter_groups = new List<Modules.ParamGroup>();
                foreach (var group in parameters) add_param_group(group);
            }

            /// <summary>One update of every parameter that has a gradient; parameters whose grad is null are skipped.</summary>
            public override Tensor step(Func<Tensor> closure = null) => _step<ParamGroup>(group => {
                var o = group.Options;
                foreach (var p in group.Parameters) {
                    var state = (State)_state[p.Handle];
                    var grad = p.grad;
                    if (grad is null) continue;
                    state.step += 1;
                    AdamUpdate.Apply(p, grad, state.step, state.exp_avg, state.exp_avg_sq, ref state.max_exp_avg_sq,
                        o.LearningRate.Value, o.beta1.Value, o.beta2.Value, o.eps.Value, o.weight_decay.Value, o.amsgrad.Value, o.maximize.Value, decoupled: true);
                }
            }, closure);

            /// <summary>Releases the moment tensors.</summary>
            protected override void Dispose(bool disposing)
            {
                base.Dispose(disposing);
                if (!disposing) return;   // finalizing: the tensors' own finalizers release them
                foreach (var (_, state) in _state) ((State)state).Dispose();
            }

            /// <summary>The per-parameter state: the step count and the moment estimates.</summary>
            public sealed class State : OptimizerState, IDisposable
            {
                /// <summary>The number of updates applied to the parameter.</summary>
                public long step;

                /// <summary>The first-moment (mean) estimate.</summary>
                public Tensor exp_avg;

                /// <summary>The second-moment (uncentred variance) estimate.</summary>
                public Tensor exp_avg_sq;

                /// <summary>The running maximum of <see cref="exp_avg_sq"/> (AMSGrad only, otherwise null).</summary>
                public Tensor max_exp_avg_sq;

                /// <summary>The state of <paramref name="parameter"/>.</summary>
                public State(Parameter parameter) : base(parameter)
                {
                }

                /// <summary>Releases the moment tensors.</summary>
                public void Dispose()
                {
                    exp_avg?.Dispose();
                    exp_avg_sq?.Dispose();
                    max_exp_avg_sq?.Dispose();
                    GC.SuppressFinalize(this);
                }

                /// <summary>Moves the moments to a device.</summary>
                public override void to(Device device)
                {
                    exp_avg = exp_avg.to(device);
                    exp_avg_sq = exp_avg_sq.to(device);
                    max_exp_avg_sq = max_exp_avg_sq?.to(device);
                }

                /// <summary>Reads the step count and moments from a stream.</summary>
                public override void LoadStateDict(BinaryReader reader)
                {
                    step = reader.ReadInt64();
                    TensorStreams.ReadInto(exp_avg, reader);
                    TensorStreams.ReadInto(exp_avg_sq, reader);
                    LoadConditionalStateTensor(reader, ref max_exp_avg_sq, _parameter.device);
                }

                /// <summary>Writes the step count and moments to a stream.</summary>
                public override void SaveStateDict(BinaryWriter writer)
                {
                    writer.Write(step);
                    TensorStreams.Write(writer, exp_avg);
                    TensorStreams.Write(writer, exp_avg_sq);
                    SaveConditionalStateTensor(writer, max_exp_avg_sq);
                }

                /// <summary>
                /// Copies another state's step count and moments (as copies that, like TorchSharp 0.105.1's, belong
                /// to the dispose scope open at the call).
                /// </summary>
                public override void LoadStateDict(OptimizerState source)
                {
                    var other = (State)source;
                    exp_avg.Dispose();
                    exp_avg_sq.Dispose();
                    max_exp_avg_sq?.Dispose();
                    step = other.step;
                    exp_avg = other.exp_avg.to(_parameter.device, copy: true);
                    exp_avg_sq = other.exp_avg_sq.to(_parameter.device, copy: true);
                    max_exp_avg_sq = other.max_exp_avg_sq?.to(_parameter.device, copy: true);
                }

                /// <summary>Whether <paramref name="other"/> holds approximately the same step count and moments.</summary>
                public override bool ApproximatelyEquals(OptimizerState other) =>
                    other is State rhs && step == rhs.step && exp_avg.allclose(rhs.exp_avg) && exp_avg_sq.allclose(rhs.exp_avg_sq) &&
                    (max_exp_avg_sq is null || max_exp_avg_sq.allclose(rhs.max_exp_avg_sq));

                /// <summary>Resets the step count to 0 and the moments to zeros (the maximum too, with AMSGrad).</summary>
                public override void Initialize(OptimizerOptions options)
                {
                    exp_avg?.Dispose();
                    exp_avg_sq?.Dispose();
                    max_exp_avg_sq?.Dispose();
                    step = 0;
                    exp_avg = zeros_like(_parameter).DetachFromDisposeScope();
                    exp_avg_sq = zeros_like(_parameter).DetachFromDisposeScope();
                    max_exp_avg_sq = ((Options)options).amsgrad.Value ? zeros_like(_parameter).DetachFromDisposeScope() : null;
                }
            }

            /// <summary>Adds a group: unset options take the defaults, and each parameter gets a fresh state.</summary>
            public override void add_param_group(Modules.ParamGroup param_group)
            {
                var defaults = (Options)_defaults;
                param_group.Options ??= new Options();
                var o = (Options)param_group.Options;
                o.LearningRate ??= defaults.LearningRate;
                o.beta1 ??= defaults.beta1;
                o.beta2 ??= defaults.beta2;
                o.eps ??= defaults.eps;
                o.weight_decay ??= defaults.weight_decay;
                o.amsgrad ??= defaults.amsgrad;
                o.maximize ??= defaults.maximize;
                o.InitialLearningRate = o.LearningRate.Value;
                _parameter_groups.Add(param_group);
                foreach (var p in param_group.Parameters) {
                    var state = new State(p);
                    _state[p.Handle] = state;
                    state.Initialize(o);
                }
            }

            /// <summary>AdamW's hyperparameters.</summary>
            public class Options : OptimizerOptions
            {
                public double? beta1;
                public double? beta2;
                public double? weight_decay;
                public double? eps;
                public bool? amsgrad;
                public bool? maximize;

                /// <summary>Copies another group's options.</summary>
                public override void LoadStateDict(OptimizerOptions source)
                {
                    base.LoadStateDict(source);
                    var other = (Options)source;
                    beta1 = other.beta1;
                    beta2 = other.beta2;
                    eps = other.eps;
                    weight_decay = other.weight_decay;
                    amsgrad = other.amsgrad;
                    maximize = other.maximize;
                }

                /// <summary>Reads the options from a stream.</summary>
                public override void LoadStateDict(BinaryReader reader)
                {
                    base.LoadStateDict(reader);
                    beta1 = reader.ReadDouble();
                    beta2 = reader.ReadDouble();
                    eps = reader.ReadDouble();
                    weight_decay = reader.ReadDouble();
                    amsgrad = reader.ReadBoolean();
                    maximize = reader.ReadBoolean();
                }

                /// <summary>Writes the options to a stream.</summary>
                public override void SaveStateDict(BinaryWriter writer)
                {
                    base.SaveStateDict(writer);
                    writer.Write(beta1.Value);
                    writer.Write(beta2.Value);
                    writer.Write(eps.Value);
                    writer.Write(weight_decay.Value);
                    writer.Write(amsgrad.Value);
                    writer.Write(maximize.Value);
                }
            }

            /// <summary>A group of parameters with AdamW options.</summary>
            public class ParamGroup : ParamGroup<Options>, IBetas
            {
                /// <summary>An empty group.</summary>
                public ParamGroup() { }

                /// <summary>A group with the given options (unset ones take the optimizer's defaults).</summary>
                public ParamGroup(IEnumerable<Parameter> parameters, Options options) : base(parameters, options) { }

                /// <summary>A group with its own hyperparameters.</summary>
                public ParamGroup(IEnumerable<Parameter> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weight_decay = 0, bool amsgrad = false, bool maximize = false)
                    : base(parameters, new Options { LearningRate = lr, beta1 = beta1, beta2 = beta2, eps = eps, weight_decay = weight_decay, amsgrad = amsgrad, maximize = maximize })
                {
                }

                /// <summary>The group's (beta1, beta2).</summary>
                public (double, double) Betas {
                    get => (Options.beta1.Value, Options.beta2.Value);
                    set { Options.beta1 = value.Item1; Options.beta2 = value.Item2; }
                }
            }

            /// <summary>The default (beta1, beta2).</summary>
            public (double, double) Betas {
                get => (((Options)_defaults).beta1.Value, ((Options)_defaults).beta2.Value);
                set { ((Options)_defaults).beta1 = value.Item1; ((Options)_defaults).beta2 = value.Item2; }
            }
        }
    }
}
