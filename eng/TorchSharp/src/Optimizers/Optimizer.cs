// Optimizer infrastructure: the Optimizer base, the managed-optimizer helper (param groups, per-parameter
// state, zero_grad, state_dict), options, states and learning-rate control, as TorchSharp 0.105.1 has them.
//
// TorchSharp's optimizer sources are nullable-oblivious; so are these signatures, so that code compiled
// against the binding sees the same nullability (and the same warnings) as against the real package.
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
            /// <summary>The base of all optimizers.</summary>
            public abstract partial class Optimizer : IDisposable
            {
                /// <summary>For optimizers implemented natively; the offline binding has none, so the handle must be zero.</summary>
                protected Optimizer(IntPtr handle)
                {
                    if (handle != IntPtr.Zero) throw new NotSupportedException("The offline TorchSharp binding has no native optimizers.");
                }

                ~Optimizer() => Dispose(false);

                /// <summary>Releases the optimizer's state.</summary>
                public void Dispose()
                {
                    Dispose(true);
                    GC.SuppressFinalize(this);
                }

                /// <summary>The .NET dispose pattern.</summary>
                protected virtual void Dispose(bool disposing)
                {
                }

                /// <summary>Sets the gradients of all parameters to zero.</summary>
                public virtual void zero_grad() => throw new NotSupportedException("The offline TorchSharp binding has no native optimizers.");

                /// <summary>Adds a parameter group.</summary>
                public virtual void add_param_group(ParamGroup param_group) => throw new NotImplementedException("add_param_group");

                /// <summary>Performs one optimization step; returns the closure's loss, if a closure was given.</summary>
                public virtual Tensor step(Func<Tensor> closure = null) => throw new NotSupportedException("The offline TorchSharp binding has no native optimizers.");

                /// <summary>The parameters the optimizer updates.</summary>
                public virtual IEnumerable<Parameter> parameters() => throw new NotSupportedException("The offline TorchSharp binding has no native optimizers.");

                /// <summary>
                /// An optimizer's state: the options of each parameter group, and the state of each parameter in
                /// group order. The entries are the optimizer's live objects, not copies.
                /// </summary>
                public class StateDictionary
                {
                    internal StateDictionary()
                    {
                        Options = new List<OptimizerOptions>();
                        State = new List<OptimizerState>();
                        StateIndexRef = new List<List<int>>();
                    }

                    /// <summary>The options (hyperparameters) of each parameter group.</summary>
                    public List<OptimizerOptions> Options { get; private set; }

                    /// <summary>The state of each parameter, group by group.</summary>
                    public List<OptimizerState> State { get; private set; }

                    /// <summary>For each group, the indices into <see cref="State"/> of its parameters.</summary>
                    public List<List<int>> StateIndexRef { get; private set; }
                }

                /// <summary>The parameter groups, as learning-rate controllers (what LR schedulers use).</summary>
                public virtual IEnumerable<ILearningRateController> ParamGroups => _parameter_groups;

                /// <summary>The parameter groups.</summary>
                protected IList<ParamGroup> _parameter_groups = new List<ParamGroup>();
            }

            /// <summary>Gives learning-rate schedulers access to a parameter group's rate.</summary>
            public interface ILearningRateController
            {
                /// <summary>The current learning rate.</summary>
                double LearningRate { set; get; }

                /// <summary>The learning rate the group started with.</summary>
                double InitialLearningRate { set; get; }
            }

            /// <summary>Marks optimizers (and groups) with a momentum hyperparameter.</summary>
            public interface IMomentum
            {
                /// <summary>The momentum factor.</summary>
                double Momentum { get; set; }
            }

            /// <summary>Marks optimizers (and groups) with Adam-style betas.</summary>
            public interface IBetas
            {
                /// <summary>(beta1, beta2).</summary>
                (double, double) Betas { get; set; }
            }
        }
    }

    namespace Modules
    {
        using static torch.optim;

        /// <summary>The base of optimizers implemented in managed code: parameter groups, per-parameter state, state dicts.</summary>
        public abstract class OptimizerHelper : Optimizer
        {
            /// <summary>Creates an optimizer with no groups; derived constructors set the defaults and add the groups.</summary>
            public OptimizerHelper() : base(IntPtr.Zero)
            {
            }

            /// <summary>Type tags of TorchSharp's optimizer stream format.</summary>
            protected enum TypeCode
            {
                Double = 0,
                Long = 1,
                Tensor = 2,
                Options = 3,
                State = 4,
            }

            /// <summary>Saves the optimizer's options and state to a file (TorchSharp's own format).</summary>
            public void save_state_dict(string location)
            {
                using var stream = File.Create(location);
                using var writer = new BinaryWriter(stream);
                save_state_dict(writer);
                writer.Flush();
            }

            /// <summary>Loads the optimizer's options and state from a file written by <see cref="save_state_dict(string)"/>.</summary>
            public void load_state_dict(string location)
            {
                using var stream = File.OpenRead(location);
                using var reader = new BinaryReader(stream);
                load_state_dict(reader);
            }

            /// <summary>Writes the optimizer's type name, then every group's options and every parameter's state.</summary>
            public void save_state_dict(BinaryWriter writer)
            {
                writer.Write(GetType().Name);
                var sd = state_dict();
                TensorStreams.WriteLeb128(writer, sd.Options.Count);
                TensorStreams.WriteLeb128(writer, sd.State.Count);
                foreach (var options in sd.Options) options.SaveStateDict(writer);
                foreach (var state in sd.State) state.SaveStateDict(writer);
            }

            /// <summary>Reads what <see cref="save_state_dict(BinaryWriter)"/> wrote, into this optimizer's options and state.</summary>
            public void load_state_dict(BinaryReader reader)
            {
                var name = reader.ReadString();
                if (name != GetType().Name)
                    throw new InvalidDataException($"Mismatched optimizer type: expected '{GetType().Name}', but found '{name}' in the loaded stream.");
                var optionCount = TensorStreams.ReadLeb128(reader);
                var stateCount = TensorStreams.ReadLeb128(reader);
                var sd = state_dict();
                if (optionCount != sd.Options.Count) throw new ArgumentException("Invalid optimizer state -- different number of parameter groups.");
                if (stateCount != sd.State.Count) throw new ArgumentException("Invalid optimizer state -- different number of states.");
                foreach (var options in sd.Options) options.LoadStateDict(reader);
                foreach (var state in sd.State) state.LoadStateDict(reader);
            }

            /// <summary>
            /// Copies another optimizer's options and per-parameter state (from its <see cref="state_dict"/>) into
            /// this one, which must have the same number of groups and parameters.
            /// </summary>
            public virtual void load_state_dict(StateDictionary state_dict)
            {
                var mine = this.state_dict();
                if (state_dict.Options.Count != mine.Options.Count) throw new ArgumentException("Invalid optimizer state -- different number of parameter groups.");
                if (state_dict.State.Count != mine.State.Count) throw new ArgumentException("Invalid optimizer state -- different number of states.");
                for (int i = 0; i < mine.Options.Count; i++) {
                    if (!ReferenceEquals(mine.Options[i], state_dict.Options[i])) mine.Options[i].LoadStateDict(state_dict.Options[i]);
                }
                for (int i = 0; i < mine.State.Count; i++) {
                    if (!ReferenceEquals(mine.State[i], state_dict.State[i])) mine.State[i].LoadStateDict(state_dict.State[i]);
                }
            }

            /// <summary>The options of each group and the state of each parameter (live objects, not copies).</summary>
            public virtual StateDictionary state_dict()
            {
                var result = new StateDictionary();
                foreach (var group in _parameter_groups) {
                    result.Options.Add(group.Options);
                    var indices = new List<int>();
                    foreach (var p in group.Parameters) {
                        indices.Add(result.State.Count);
                        result.State.Add(_state[p.Handle]);
                    }
                    result.StateIndexRef.Add(indices);
                }
                return result;
            }

            /// <summary>Moves all the per-parameter state to a device.</summary>
            public void to(Device device)
            {
                foreach (var group in _parameter_groups) {
                    foreach (var p in group.Parameters) _state[p.Handle].to(device);
                }
            }

            /// <summary>Zeroes every parameter's gradient in place; the gradient tensors stay (null ones stay null).</summary>
            public override void zero_grad()
            {
                foreach (var group in _parameter_groups) {
                    foreach (var p in group.Parameters) {
                        using var grad = p.grad;
                        grad?.zero_();
                    }
                }
            }

            /// <summary>
            /// Runs the closure (with grad enabled), then <paramref name="body"/> for each group with grad disabled
            /// inside a dispose scope, so the update's temporaries are released; returns the closure's loss.
            /// </summary>
            protected Tensor _step<T>(Action<T> body, Func<Tensor> loss_closure = null) where T : ParamGroup
            {
                Tensor loss = null;
                if (loss_closure is not null) {
                    using (torch.enable_grad()) loss = loss_closure();
                }
                using (torch.no_grad())
                using (torch.NewDisposeScope()) {
                    foreach (var group in _parameter_groups) body(group as T);
                }
                return loss;
            }

            /// <summary>The parameters of all groups, in order.</summary>
            public override IEnumerable<Parameter> parameters() => _parameter_groups.SelectMany(g => g.Parameters);

            /// <summary>Adds a parameter group (derived optimizers also fill in its options and create its state).</summary>
            public override void add_param_group(ParamGroup param_group) => _parameter_groups.Add(param_group);

            /// <summary>The default options, taken by groups that leave an option unset.</summary>
            protected OptimizerOptions _defaults;

            /// <summary>Per-parameter state, keyed by the parameter's handle.</summary>
            protected Utils.OrderedDict<IntPtr, OptimizerState> _state = new();
        }

        /// <summary>The options (hyperparameters) of a parameter group.</summary>
        public class OptimizerOptions
        {
            /// <summary>The learning rate; unset means the optimizer's default.</summary>
            public double? LearningRate { get; set; }

            /// <summary>The learning rate the group started with (LR schedulers scale from it).</summary>
            public double InitialLearningRate { get; set; }

            /// <summary>Writes the options to a stream.</summary>
            public virtual void SaveStateDict(BinaryWriter writer)
            {
                writer.Write(InitialLearningRate);
                writer.Write(LearningRate.Value);
            }

            /// <summary>Reads the options from a stream.</summary>
            public virtual void LoadStateDict(BinaryReader reader)
            {
                InitialLearningRate = reader.ReadDouble();
                LearningRate = reader.ReadDouble();
            }

            /// <summary>Copies the options of another group.</summary>
            public virtual void LoadStateDict(OptimizerOptions source)
            {
                InitialLearningRate = source.InitialLearningRate;
                LearningRate = source.LearningRate;
            }
        }

        /// <summary>The optimizer's state for one parameter (moments, step counts, buffers).</summary>
        public abstract class OptimizerState
        {
            /// <summary>The parameter this state belongs to.</summary>
            protected Parameter _parameter;

            /// <summary>Creates the state of <paramref name="parameter"/>.</summary>
            protected OptimizerState(Parameter parameter)
            {
                _parameter = parameter;
            }

            /// <summary>Writes the state to a stream.</summary>
            public abstract void SaveStateDict(BinaryWriter writer);

            /// <summary>Reads the state from a stream.</summary>
            public abstract void LoadStateDict(BinaryReader reader);

            /// <summary>Copies another optimizer's state for the corresponding parameter.</summary>
            public abstract void LoadStateDict(OptimizerState source);

            /// <summary>Whether another state holds (approximately) the same values; for tests.</summary>
            public virtual bool ApproximatelyEquals(OptimizerState other) => false;

            /// <summary>Resets the state to its initial values.</summary>
            public abstract void Initialize(OptimizerOptions options);

            /// <summary>Moves the state's tensors to a device.</summary>
            public virtual void to(Device device) { }

            /// <summary>Reads a tensor that may be absent (a flag, then the tensor), replacing <paramref name="result"/>.</summary>
            protected static void LoadConditionalStateTensor(BinaryReader reader, ref Tensor result, Device device)
            {
                if (reader.ReadBoolean()) {
                    TensorStreams.Read(ref result, reader);
                    result = result.to(device, disposeAfter: true);
                } else {
                    result?.Dispose();
                    result = null;
                }
            }

            /// <summary>Writes a tensor that may be absent: a flag, then the tensor.</summary>
            protected static void SaveConditionalStateTensor(BinaryWriter writer, Tensor tensor)
            {
                writer.Write(tensor is not null);
                if (tensor is not null) TensorStreams.Write(writer, tensor);
            }
        }

        /// <summary>A group of parameters sharing options.</summary>
        public class ParamGroup : ILearningRateController
        {
            /// <summary>The group's parameters (enumerated afresh at every step, as given).</summary>
            public IEnumerable<Parameter> Parameters { get; set; }

            /// <summary>The group's options.</summary>
            public OptimizerOptions Options { get; set; }

            /// <summary>The group's current learning rate.</summary>
            public double LearningRate { get => Options.LearningRate.Value; set => Options.LearningRate = value; }

            /// <summary>The group's initial learning rate.</summary>
            public double InitialLearningRate { get => Options.InitialLearningRate; set => Options.InitialLearningRate = value; }
        }

        /// <summary>A parameter group with options of a known type.</summary>
        public class ParamGroup<TOptions> : ParamGroup where TOptions : OptimizerOptions
        {
            /// <summary>An empty group.</summary>
            public ParamGroup()
            {
            }

            /// <summary>A group of <paramref name="parameters"/>; options left null take the optimizer's defaults.</summary>
            public ParamGroup(IEnumerable<Parameter> parameters, TOptions options = null)
            {
                base.Parameters = parameters;
                base.Options = options;
            }

            /// <summary>The group's options.</summary>
            public new TOptions Options { get => (TOptions)base.Options; set => base.Options = value; }
        }
    }
}
