import { Global, Module } from '@nestjs/common';
import { AuditController } from '../audit/audit.controller';
import { AuditService } from '../audit/audit.service';
import { RegistrationTokenController } from './registration-token.controller';
import { RegistrationTokenService } from './registration-token.service';
import { TokenCache } from './token-cache';
import { TokenController } from './token.controller';
import { TokenGuard } from './token.guard';
import { TokenService } from './token.service';
import { WhoAmIController } from './whoami.controller';

/**
 * Credentials and the audit log (SPEC section 12): API tokens and the guard every user and
 * admin route uses, registration tokens, and the audit service every module records with.
 * Global: it sits below every resource module.
 */
@Global()
@Module({
  controllers: [TokenController, RegistrationTokenController, AuditController, WhoAmIController],
  providers: [TokenService, TokenCache, TokenGuard, RegistrationTokenService, AuditService],
  exports: [TokenService, TokenGuard, RegistrationTokenService, AuditService],
})
export class AuthModule {}
