// Stochastic gradient descent with optional (heavy-ball or Nesterov) momentum, dampening and L2 weight decay.
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
            /// <summary>Stochastic gradient descent, optionally with momentum.</summary>
            public static Modules.SGD SGD(IEnumerable<Parameter> parameters, double learningRate, double momentum = 0, double dampening = 0, double weight_decay = 0, bool nesterov = false, bool maximize = false) =>
                new(parameters, learningRate, momentum, dampening, weight_decay, nesterov, maximize);

            /// <summary>Stochastic gradient descent over named parameters (the names are ignored).</summary>
            public static Modules.SGD SGD(IEnumerable<(string name, Parameter parameter)> parameters, double learningRate, double momentum = 0, double dampening = 0, double weight_decay = 0, bool nesterov = false, bool maximize = false) =>
                new(parameters.Select(np => np.parameter), learningRate, momentum, dampening, weight_decay, nesterov, maximize);

            /// <summary>Stochastic gradient descent over parameter groups; the arguments are the groups' defaults.</summary>
            public static Modules.SGD SGD(IEnumerable<Modules.SGD.ParamGroup> parameters, double learningRate, double momentum = 0.0, double dampening = 0, double weight_decay = 0, bool nesterov = false, bool maximize = false) =>
                new(parameters, learningRate, momentum, dampening, weight_decay, nesterov, maximize);
        }
    }

    namespace Modules
    {
        using static torch.optim;

        /// <summary>
        /// SGD: with weight decay λ, momentum μ, dampening τ, d = g + λ·p; the momentum buffer starts as d and
        /// then b ← μ·b + (1 − τ)·d; the step uses b (or d + μ·b with Nesterov): p ← p − lr·step (+ with maximize).
        /// </summary>
        public class SGD : OptimizerHelper, IMomentum
        {
            /// <summary>SGD over one group of parameters.</summary>
            public SGD(IEnumerable<Parameter> parameters, double lr, double momentum = 0.0, double dampening = 0, double weight_decay = 0, bool nesterov = false, bool maximize = false)
                : this(new[] { new ParamGroup { Parameters = parameters } }, lr, momentum, dampening, weight_decay, nesterov, maximize)
            {
            }

            /// <summary>SGD over parameter groups; the arguments are the defaults for options a group leaves unset.</summary>
            public SGD(IEnumerable<ParamGroup> parameters, double lr, double momentum = 0.0, double dampening = 0, double weight_decay = 0, bool nesterov = false, bool maximize = false)
            {
                if (lr < 0) throw new ArgumentException($"Invalid learning rate: {lr}");
                if (momentum < 0) throw new ArgumentException($"Invalid momentum value: {momentum}");
                if (weight_decay < 0) throw new ArgumentException($"Invalid weight_decay value: {weight_decay}");
                if (nesterov && (momentum <= 0 || dampening != 0)) throw new ArgumentException("Nesterov momentum requires a momentum and zero dampening");

                _defaults = new Options {
                    LearningRate = lr,
                    InitialLearningRate = lr,
                    momentum = momentum,
                    dampening = dampening,
                    weight_decay = weight_decay,
                    nesterov = nesterov,
                    maximize = maximize,
                };
                _parameter_groups = new List<Modules.ParamGroup>();
                foreach (var group in parameters) add_param_group(group);
            }

            /// <summary>One update of every parameter that has a gradient; parameters whose grad is null are skipped.</summary>
            public override Tensor step(Func<Tensor> closure = null) => _step<ParamGroup>(group => {
                var o = group.Options;
                double lr = o.LearningRate.Value, mu = o.momentum.Value, tau = o.dampening.Value, wd = o.weight_decay.Value;
                bool nesterov = o.nesterov.Value, maximize = o.maximize.Value;
                foreach (var p in group.Parameters) {
                    var state = (State)_state[p.Handle];
                    var d = p.grad;
                    if (d is null) continue;
                    if (wd != 0) d = d.add(p, wd);
                    if (mu != 0) {
                        if (state.momentum_buffer is null) {
                            state.momentum_buffer = d.clone().DetachFromDisposeScope();
                        } else {
                            state.momentum_buffer.mul_(mu).add_(d, 1 - tau);
                        }
                        d = nesterov ? d.add(state.momentum_buffer, mu) : state.momentum_buffer;
                    }
                    p.add_(d, maximize ? lr : -lr);
                }
            }, closure);

            /// <summary>Releases the momentum buffers.</summary>
            protected override void Dispose(bool disposing)
            {
                base.Dispose(disposing);
                if (!disposing) return;   // finalizing: the tensors' own finalizers release them
                foreach (var (_, state) in _state) ((State)state).Dispose();
                _state.Clear();
            }

            /// <summary>The per-parameter state: the momentum buffer (null until the first step with momentum).</summary>
            public sealed class State : OptimizerState, IDisposable
            {
                /// <summary>The momentum buffer, or null.</summary>
                public Tensor momentum_buffer;

                /// <summary>The state of <paramref name="parameter"/>.</summary>
                public State(Parameter parameter) : base(parameter)
                {
                }

                /// <summary>Releases the buffer.</summary>
                public void Dispose()
                {
                    momentum_buffer?.Dispose();
                    GC.SuppressFinalize(this);
                }

                /// <summary>Moves the buffer to a device.</summary>
                public override void to(Device device)
                {
                    momentum_buffer = momentum_buffer?.to(device);
                }

                /// <summary>Reads the buffer from a stream.</summary>
                public override void LoadStateDict(BinaryReader reader) => LoadConditionalStateTensor(reader, ref momentum_buffer, _parameter.device);

                /// <summary>Writes the buffer to a stream.</summary>
                public override void SaveStateDict(BinaryWriter writer) => SaveConditionalStateTensor(writer, momentum_buffer);

                /// <summary>
                /// Copies another SGD state's buffer. Like TorchSharp 0.105.1, the copy belongs to the dispose scope
                /// open at the call, and a source without a buffer (no step taken yet) throws NullReferenceException.
                /// </summary>
                public override void LoadStateDict(OptimizerState source)
                {
                    var other = (State)source;
                    momentum_buffer?.Dispose();
                    momentum_buffer = other.momentum_buffer.to(_parameter.device, copy: true);
                }

                /// <summary>Whether <paramref name="other"/> holds approximately the same buffer.</summary>
                public override bool ApproximatelyEquals(OptimizerState other) =>
                    other is State rhs && (momentum_buffer is null || momentum_buffer.allclose(rhs.momentum_buffer));

                /// <summary>Clears the buffer.</summary>
                public override void Initialize(OptimizerOptions options)
                {
                    momentum_buffer?.Dispose();
                    momentum_buffer = null;
                }
            }

            /// <summary>Adds a group: unset options take the defaults, and each parameter gets a fresh state.</summary>
            public override void add_param_group(Modules.ParamGroup param_group)
            {
                var defaults = (Options)_defaults;
                param_group.Options ??= new Options();
                var o = (Options)param_group.Options;
                o.LearningRate ??= defaults.LearningRate;
                o.momentum ??= defaults.momentum;
                o.dampening ??= defaults.dampening;
                o.weight_decay ??= defaults.weight_decay;
                o.nesterov ??= defaults.nesterov;
                o.maximize ??= defaults.maximize;
                o.InitialLearningRate = o.LearningRate.Value;
                _parameter_groups.Add(param_group);
                foreach (var p in param_group.Parameters) {
                    var state = new State(p);
                    _state[p.Handle] = state;
                    state.Initialize(o);
                }
            }

            /// <summary>SGD's hyperparameters.</summary>
            public class Options : OptimizerOptions
            {
                public double? momentum;
                public double? dampening;
                public double? weight_decay;
                public bool? nesterov;
                public bool? maximize;

                /// <summary>Reads the options from a stream.</summary>
                public override void LoadStateDict(BinaryReader reader)
                {
                    base.LoadStateDict(reader);
                    momentum = reader.ReadDouble();
                    dampening = reader.ReadDouble();
                    weight_decay = reader.ReadDouble();
                    nesterov = reader.ReadBoolean();
                    maximize = reader.ReadBoolean();
                }

                /// <summary>Copies another group's options.</summary>
                public override void LoadStateDict(OptimizerOptions source)
                {
                    base.LoadStateDict(source);
                    var other = (Options)source;
                    momentum = other.momentum;
                    dampening = other.dampening;
                    weight_decay = other.weight_decay;
                    nesterov = other.nesterov;
                    maximize = other.maximize;
                }

                /// <summary>Writes the options to a stream.</summary>
                public override void SaveStateDict(BinaryWriter writer)
                {
                    base.SaveStateDict(writer);
                    writer.Write(momentum.Value);
                    writer.Write(dampening.Value);
                    writer.Write(weight_decay.Value);
                    writer.Write(nesterov.Value);
                    writer.Write(maximize.Value);
                }
            }

            /// <summary>A group of parameters with SGD options.</summary>
            public class ParamGroup : ParamGroup<Options>, IMomentum
            {
                /// <summary>An empty group.</summary>
                public ParamGroup() { }

                /// <summary>A group with the given options (unset ones take the optimizer's defaults).</summary>
                public ParamGroup(IEnumerable<Parameter> parameters, Options options) : base(parameters, options) { }

                /// <summary>A group with its own hyperparameters.</summary>
                public ParamGroup(IEnumerable<Parameter> parameters, double lr = 1e-3, double momentum = 0.0, double dampening = 0, double weight_decay = 0, bool nesterov = false, bool maximize = false)
                    : base(parameters, new Options { LearningRate = lr, momentum = momentum, dampening = dampening, weight_decay = weight_decay, nesterov = nesterov, maximize = maximize })
                {
                }

                /// <summary>The group's momentum.</summary>
                public double Momentum { get => Options.momentum.Value; set => Options.momentum = value; }
            }

            /// <summary>The default momentum.</summary>
            public double Momentum { get => ((Options)_defaults).momentum.Value; set => ((Options)_defaults).momentum = value; }
        }
    }
}
